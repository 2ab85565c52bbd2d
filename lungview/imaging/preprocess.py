"""The one model-input transform, used by training, ``predict``, the CAMs and the GUI.

Policy (written into the model card as ``preprocessing``):

1. start from one 2-D grayscale slice on a 0-255 scale (8-bit images as they are; DICOM
   windowed to 0-255 with :data:`MODEL_DICOM_WINDOW`, see :func:`model_gray_from_hu`);
2. pad the shorter side with zeros (black, i.e. air outside the body) so the slice sits
   centred in a square, never stretched or cropped;
3. resize the square to ``size`` x ``size`` with ``cv2.INTER_AREA`` (area averaging:
   antialiased when shrinking, which matters: a model trained on antialiased slices and fed
   aliased ones loses accuracy);
4. round to integer grey levels, replicate to 3 channels, float32 in 0-255. EfficientNet rescales internally, so no
   further normalisation is applied.

:func:`map_to_original` is the exact inverse for heatmaps: resize to the padded square,
then crop the padding away, giving the original pixel geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MODEL_INPUT_SIZE = 512

#: Window (centre, width) in HU that turns a CT slice into the kind of 8-bit image the
#: classifier was trained on. IQ-OTH/NCCD slices were read with widths 350-1200 HU and
#: centres 50-600 (dataset README); a wide mediastinal-to-lung window in the middle of that
#: range keeps both parenchyma and soft tissue visible, as in the training images.
MODEL_DICOM_WINDOW = (40.0, 1000.0)

PREPROCESSING_DESCRIPTION = (
    "grayscale 0-255 (DICOM: HU windowed at centre {c:g} / width {w:g}); zero-pad to a "
    "centred square; cv2.resize INTER_AREA to {size}x{size}; round; replicate to 3 channels; "
    "float32 0-255 (EfficientNet rescales internally)"
)


@dataclass(frozen=True)
class Placement:
    """Where the original slice sits inside the padded square fed to the model."""

    rows: int
    cols: int
    side: int
    top: int
    left: int
    size: int

    def to_dict(self) -> dict[str, int]:
        return dict(rows=self.rows, cols=self.cols, side=self.side, top=self.top,
                    left=self.left, size=self.size)


def placement_for(rows: int, cols: int, size: int = MODEL_INPUT_SIZE) -> Placement:
    """Geometry of the pad-to-square step for a ``rows`` x ``cols`` slice."""
    side = max(rows, cols)
    return Placement(rows=rows, cols=cols, side=side, top=(side - rows) // 2,
                     left=(side - cols) // 2, size=size)


def to_gray(image: np.ndarray) -> np.ndarray:
    """Collapse RGB/RGBA (H, W, C) to one channel (ITU-R 601 luma); 2-D passes through."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] in (3, 4):
        rgb = image[..., :3].astype(np.float32)
        return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if image.ndim == 3 and image.shape[2] == 1:
        return image[..., 0]
    raise ValueError(f"expected a 2-D slice or an RGB(A) image, got shape {image.shape}")


def model_gray_from_hu(hu: np.ndarray,
                       window: tuple[float, float] = MODEL_DICOM_WINDOW) -> np.ndarray:
    """Window a HU slice to 0-255 float32 the way the classifier expects."""
    centre, width = window
    low = centre - width / 2.0
    out = (hu.astype(np.float32) - low) * (255.0 / width)
    return np.clip(out, 0.0, 255.0)


def to_model_input(gray: np.ndarray, size: int = MODEL_INPUT_SIZE
                   ) -> tuple[np.ndarray, Placement]:
    """Turn one 0-255 grayscale slice into the classifier's (size, size, 3) float32 input.

    Parameters
    ----------
    gray : 2-D array on a 0-255 scale (any dtype), any height and width.
    size : side of the square model input.

    Returns
    -------
    (input, placement): the float32 array and the geometry needed by
    :func:`map_to_original`.
    """
    gray = to_gray(np.asarray(gray))
    if gray.ndim != 2 or gray.size == 0:
        raise ValueError(f"expected a non-empty 2-D slice, got shape {gray.shape}")
    rows, cols = gray.shape
    place = placement_for(rows, cols, size)
    square = np.zeros((place.side, place.side), dtype=np.float32)
    square[place.top:place.top + rows, place.left:place.left + cols] = gray
    if place.side != size:
        square = cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)
    # Integer grey levels: training stores inputs as uint8, so rounding here makes the
    # training, prediction and CAM inputs bit-identical.
    square = np.clip(np.round(square), 0.0, 255.0)
    return np.repeat(square[..., None], 3, axis=2), place


def map_to_original(heatmap: np.ndarray, place: Placement) -> np.ndarray:
    """Bring a map defined over the model input (any resolution) back onto the original
    slice's pixels: the exact inverse of :func:`to_model_input`'s geometry."""
    heatmap = np.asarray(heatmap, dtype=np.float32)
    square = cv2.resize(heatmap, (place.side, place.side), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(
        square[place.top:place.top + place.rows, place.left:place.left + place.cols])


def box_to_model(box: tuple[float, float, float, float], place: Placement
                 ) -> tuple[float, float, float, float]:
    """Map a (row0, col0, row1, col1) box from original pixels into model-input pixels."""
    scale = place.size / place.side
    r0, c0, r1, c1 = box
    return ((r0 + place.top) * scale, (c0 + place.left) * scale,
            (r1 + place.top) * scale, (c1 + place.left) * scale)
