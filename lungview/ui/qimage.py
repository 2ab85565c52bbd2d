"""numpy -> QImage, in one place.

QImage can wrap a buffer without copying, but then it points into memory numpy may free or
reuse; every image built here is therefore copied before the array can go away.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

_FORMATS = {1: QImage.Format.Format_Grayscale8, 3: QImage.Format.Format_RGB888,
            4: QImage.Format.Format_RGBA8888}


def array_to_qimage(array: np.ndarray) -> QImage:
    """Copy a uint8 array (H, W), (H, W, 3) RGB or (H, W, 4) RGBA into a new QImage.

    Parameters
    ----------
    array : numpy.ndarray
        uint8 pixels; any strides (views and slices are made contiguous first).

    Returns
    -------
    QImage
        An image that owns its pixels (safe after ``array`` is gone).

    Raises
    ------
    ValueError
        For a dtype other than uint8 or an unsupported shape (a programming error: the
        loaders always return uint8 display images).
    """
    a = np.asarray(array)
    if a.dtype != np.uint8:
        raise ValueError(f"array_to_qimage needs uint8 pixels, got {a.dtype}")
    if a.ndim == 2:
        channels = 1
    elif a.ndim == 3 and a.shape[2] in (1, 3, 4):
        channels = a.shape[2]
        if channels == 1:
            a = a[..., 0]
    else:
        raise ValueError(f"array_to_qimage needs (H, W) or (H, W, 3|4), got {a.shape}")
    a = np.ascontiguousarray(a)
    height, width = a.shape[:2]
    # bytesPerLine must be given: QImage otherwise assumes 32-bit aligned rows, which
    # skews every row of an odd-width grayscale image.
    image = QImage(a.data, width, height, width * channels, _FORMATS[channels])
    return image.copy()


def qimage_to_array(image: QImage) -> np.ndarray:
    """Grayscale pixels of a QImage as a new (H, W) uint8 array (for tests and checks)."""
    gray = image.convertToFormat(QImage.Format.Format_Grayscale8)
    width, height, stride = gray.width(), gray.height(), gray.bytesPerLine()
    buffer = np.frombuffer(gray.constBits(), dtype=np.uint8, count=stride * height)
    return buffer.reshape(height, stride)[:, :width].copy()
