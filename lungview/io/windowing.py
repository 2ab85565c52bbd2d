"""Window (VOI) arithmetic: values -> 8-bit display grey levels.

The formulas are the DICOM VOI LUT functions of PS3.3 C.11.2.1.2 (``LINEAR``, the default;
``LINEAR_EXACT``; ``SIGMOID``), computed in float32 on one slice at a time because this
runs on every repaint of the viewer. ``tests/test_io_windowing.py`` checks them against
``pydicom.pixels.apply_windowing`` on the same data.
"""

from __future__ import annotations

import numpy as np

#: Common CT presets, (centre, width) in HU, as radiology viewers name them.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (40.0, 400.0),
    "bone": (480.0, 2500.0),
    "soft tissue": (50.0, 350.0),
    "brain": (40.0, 80.0),
}

VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")


def window_to_uint8(values: np.ndarray, centre: float, width: float,
                    function: str = "LINEAR") -> np.ndarray:
    """Map ``values`` through a window to 0-255.

    Parameters
    ----------
    values : 2-D array of modality values (HU for CT), any numeric dtype.
    centre, width : the window. Widths below the minimum the function allows (1 for
        ``LINEAR``, anything positive otherwise) are raised to it instead of failing,
        because a user dragging the window to zero should see a threshold, not an error.
    function : ``LINEAR`` (DICOM default), ``LINEAR_EXACT`` or ``SIGMOID``; unknown
        values fall back to ``LINEAR``.

    Returns
    -------
    uint8 array of the same shape.
    """
    v = np.asarray(values, dtype=np.float32)
    c = float(centre)
    w = float(width)
    function = (function or "LINEAR").upper()
    if function == "SIGMOID":
        w = max(w, 1e-6)
        out = 255.0 / (1.0 + np.exp(np.clip(-4.0 * (v - c) / w, -80.0, 80.0)))
    elif function == "LINEAR_EXACT":
        w = max(w, 1e-6)
        out = ((v - c) / w + 0.5) * 255.0
    else:
        # LINEAR: the -0.5 / -1 make the window cover whole stored-value bins.
        w = max(w, 1.0) - 1.0
        c = c - 0.5
        if w <= 0.0:
            out = np.where(v <= c, 0.0, 255.0).astype(np.float32)
        else:
            out = ((v - c) / w + 0.5) * 255.0
    np.clip(out, 0.0, 255.0, out=out)
    return np.rint(out).astype(np.uint8)


def full_range_window(values: np.ndarray) -> tuple[float, float]:
    """(centre, width) spanning the data range of ``values`` (width at least 1)."""
    arr = np.asarray(values)
    if arr.size == 0:
        return (0.0, 1.0)
    lo = float(np.min(arr))
    hi = float(np.max(arr))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        finite = arr[np.isfinite(arr)]
        if finite.size == 0:
            return (0.0, 1.0)
        lo, hi = float(finite.min()), float(finite.max())
    return ((lo + hi) / 2.0, max(hi - lo, 1.0))


def lut_to_uint8(mapped: np.ndarray, lut_min: float, lut_max: float) -> np.ndarray:
    """Scale the output of a VOI LUT Sequence (its own entry range) to 0-255.

    The LUT descriptor's bit depth is often larger than the entries actually used (e.g.
    16 bits declared, 0-4095 stored), so the entries' own min..max is the display range.
    """
    span = max(float(lut_max) - float(lut_min), 1.0)
    out = (np.asarray(mapped, dtype=np.float32) - float(lut_min)) * (255.0 / span)
    np.clip(out, 0.0, 255.0, out=out)
    return np.rint(out).astype(np.uint8)
