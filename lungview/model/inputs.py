"""From a loaded slice to what the model sees. TF-free, shared by predict, explain, the GUI."""

from __future__ import annotations

import numpy as np

from lungview.imaging.preprocess import MODEL_DICOM_WINDOW, model_gray_from_hu


def model_gray(series, index: int) -> np.ndarray:
    """Slice ``index`` of a ``lungview.io.Series`` as a 0-255 float32 grayscale image.

    CT in Hounsfield units is windowed with MODEL_DICOM_WINDOW (the training slices are
    already-windowed 8-bit images); other images use their own display mapping ("from
    file": identity for 8-bit, full range for 16-bit, MONOCHROME1 inverted).
    """
    if series.hu:
        return model_gray_from_hu(series.pixels(index), MODEL_DICOM_WINDOW)
    return series.display(index, None).astype(np.float32)
