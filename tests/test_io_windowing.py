"""Window arithmetic against pydicom's own ``apply_windowing`` (PS3.3 C.11.2.1.2)."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_windowing

from lungview.io.windowing import full_range_window, lut_to_uint8, window_to_uint8


def _pydicom_window(values: np.ndarray, centre: float, width: float, function: str):
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsStored = 16
    ds.PixelRepresentation = 1
    ds.WindowCenter = centre
    ds.WindowWidth = width
    ds.VOILUTFunction = function
    with np.errstate(over="ignore"):  # pydicom's sigmoid overflows harmlessly to 0
        out = apply_windowing(values.astype(np.float64), ds)  # 16-bit signed output range
    return np.rint((out + 32768.0) * 255.0 / 65535.0)


@pytest.mark.parametrize("function,centre,width", [
    (f, c, w) for f in ("LINEAR", "LINEAR_EXACT", "SIGMOID")
    for c, w in ((-600, 1500), (40, 400), (0.5, 2), (1000, 1))
    if f == "LINEAR" or w >= 2])  # width 1 is only meaningful for LINEAR
def test_matches_pydicom(function, centre, width):
    values = np.linspace(-2000, 3000, 5001).astype(np.float32).reshape(1, -1)
    ours = window_to_uint8(values, centre, width, function).astype(np.float64)
    ref = _pydicom_window(values, centre, width, function)
    assert np.abs(ours - ref).max() <= 1


def test_zero_width_becomes_threshold():
    out = window_to_uint8(np.array([[-1.0, 0.0, 1.0]]), 0.5, 0)
    assert out.tolist() == [[0, 0, 255]]


def test_full_range_and_lut_scaling():
    arr = np.array([[-5.0, 10.0], [np.nan, 3.0]])
    assert full_range_window(arr) == (2.5, 15.0)
    assert full_range_window(np.zeros((2, 2))) == (0.0, 1.0)
    np.testing.assert_array_equal(lut_to_uint8(np.array([100, 1100, 2100]), 100, 2100),
                                  [0, 128, 255])
