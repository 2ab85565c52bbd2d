"""Heatmap over slice: colour maps, scaling, threshold, contours, blending (numpy + OpenCV).

No Qt and no TensorFlow, so what the radiologist sees is testable on plain arrays, and
moving the opacity slider is a cheap re-blend of a map already computed (never a new CAM).

Scaling. A :class:`~lungview.explain.CamResult` heatmap is min-max scaled per image: a
51 %-confident map then looks as hot as a 99 % one. ``absolute`` scaling multiplies it by
``raw_max / reference``, where ``reference`` is the largest ``raw_max`` seen for the same
method and class in the open case, so slices (and cases) with weaker evidence look weaker.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Colour maps offered in the UI; the first is the default (perceptually uniform).
COLORMAPS: dict[str, int] = {
    "viridis": cv2.COLORMAP_VIRIDIS,
    "inferno": cv2.COLORMAP_INFERNO,
    "jet": cv2.COLORMAP_JET,
}
DEFAULT_COLORMAP = "viridis"
SCALINGS = ("per-image", "absolute")


@dataclass(frozen=True)
class OverlayStyle:
    """How a heatmap is drawn; every field is a live control (no recomputation)."""

    opacity: float = 0.45       # 0 = slice only, 1 = heatmap only (where shown)
    colormap: str = DEFAULT_COLORMAP
    threshold: float = 0.0      # values below are not drawn (0-1 of the scaled map)
    contour: bool = False       # iso-lines at 25/50/75 % instead of a filled map
    scaling: str = "per-image"  # or "absolute"


def colormap_lut(name: str) -> np.ndarray:
    """(256, 3) uint8 RGB lookup table of colour map ``name`` (OpenCV's maps are BGR)."""
    if name not in COLORMAPS:
        raise ValueError(f"unknown colour map {name!r}; choose from {', '.join(COLORMAPS)}")
    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    bgr = cv2.applyColorMap(ramp, COLORMAPS[name]).reshape(256, 3)
    return np.ascontiguousarray(bgr[:, ::-1])


def scaled_map(heatmap: np.ndarray, scaling: str = "per-image", raw_max: float = 1.0,
               reference: float | None = None) -> np.ndarray:
    """The map to draw, float32 in [0, 1]: as computed (``per-image``) or ``absolute``."""
    values = np.nan_to_num(np.asarray(heatmap, dtype=np.float32), nan=0.0)
    if scaling == "absolute":
        ref = reference if reference and reference > 0 else raw_max
        factor = float(raw_max) / float(ref) if ref and ref > 0 else 0.0
        values = values * min(1.0, max(0.0, factor))
    elif scaling != "per-image":
        raise ValueError(f"unknown scaling {scaling!r}; choose from {', '.join(SCALINGS)}")
    return np.clip(values, 0.0, 1.0)


def blend(gray: np.ndarray, heatmap: np.ndarray, style: OverlayStyle,
          raw_max: float = 1.0, reference: float | None = None) -> np.ndarray:
    """Slice ``gray`` (H, W) uint8 with ``heatmap`` (H, W) in [0, 1] drawn over it.

    Returns (H, W, 3) uint8 RGB. The colour's weight is ``opacity`` for map values from 0.5
    up and fades linearly to 0 at value 0. Pixels under ``style.threshold`` keep the grey;
    in contour mode only iso-lines (25, 50, 75 % of the map's range above the threshold)
    are drawn, fully opaque, so the anatomy under them stays visible.
    """
    gray = np.asarray(gray)
    if gray.ndim == 3:
        gray = gray[..., :3].mean(axis=2).astype(np.uint8)
    if gray.dtype != np.uint8:
        raise ValueError(f"blend needs a uint8 slice, got {gray.dtype}")
    values = scaled_map(heatmap, style.scaling, raw_max, reference)
    if values.shape != gray.shape:
        raise ValueError(f"heatmap {values.shape} does not match the slice {gray.shape}")
    base = np.repeat(gray[..., None], 3, axis=2)
    lut = colormap_lut(style.colormap)
    colours = lut[np.round(values * 255).astype(np.uint8)]
    threshold = float(np.clip(style.threshold, 0.0, 1.0))
    if style.contour:
        out = base.copy()
        thickness = max(1, round(max(gray.shape) / 256))
        for level in (0.25, 0.5, 0.75):
            cut = threshold + level * (1.0 - threshold)
            mask = (values >= cut).astype(np.uint8)
            contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
            colour = tuple(int(c) for c in lut[int(round(cut * 255))])
            cv2.drawContours(out, contours, -1, colour, thickness, lineType=cv2.LINE_AA)
        return out
    # Opacity fades in over the lower half of the map: a uniform alpha would wash the whole
    # slice in the colour map's darkest colour, hiding anatomy where there is no evidence.
    alpha = float(np.clip(style.opacity, 0.0, 1.0)) * np.clip(values * 2.0, 0.0, 1.0)
    if threshold > 0:
        alpha = np.where(values >= threshold, alpha, 0.0)
    alpha = alpha[..., None].astype(np.float32)
    mixed = base.astype(np.float32) * (1 - alpha) + colours.astype(np.float32) * alpha
    return np.round(mixed).astype(np.uint8)


def legend_bar(name: str, width: int = 256, height: int = 14) -> np.ndarray:
    """(height, width, 3) RGB ramp of colour map ``name``, low on the left."""
    lut = colormap_lut(name)
    index = np.linspace(0, 255, max(2, width)).round().astype(np.uint8)
    return np.ascontiguousarray(np.repeat(lut[index][None], max(1, height), axis=0))
