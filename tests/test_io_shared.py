"""Loading the real DICOM data in ../shared/data/dicom (skipped when it is absent).

Reference values come from pydicom directly (dcmread + pixel_array + rescale), not from
lungview, so the loader is checked against an independent reading of the same files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from lungview.errors import LoadError
from lungview.io import load

pytestmark = pytest.mark.shared


def _dicom(shared_data: Path) -> Path:
    root = shared_data / "dicom"
    if not root.is_dir():
        pytest.skip("../shared/data/dicom is absent")
    return root


def _edge_files() -> list[str]:
    from tests.conftest import SHARED_DATA

    root = SHARED_DATA / "dicom" / "edge-cases"
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
                  and "series_" not in str(p.parent.name))


def _reference_hu(path: Path) -> np.ndarray:
    ds = pydicom.dcmread(path)
    return ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(
        ds.RescaleIntercept)


@pytest.mark.parametrize("rel", _edge_files() or ["(none)"])
def test_every_edge_case_loads_or_fails_typed(shared_data, rel):
    path = _dicom(shared_data) / "edge-cases" / rel
    if not path.exists():
        pytest.skip("edge-cases folder absent")
    try:
        result = load(path)
    except LoadError as exc:
        assert exc.path == str(path) and exc.reason and "\n" not in exc.reason
        return
    series = result.series[0]
    for i in {0, len(series) // 2, len(series) - 1}:
        try:
            shown = series.display(i)
        except LoadError as exc:  # lazily decoded slices may still fail, but typed
            assert exc.reason
            continue
        assert shown.dtype == np.uint8 and shown.shape == (series.rows, series.cols)
        assert np.isfinite(series.pixels(i)).all()


def test_edge_case_folder_loads_with_bad_files_skipped(shared_data):
    root = _dicom(shared_data) / "edge-cases"
    result = load(root)
    names = {Path(e.path).name for e in result.skipped}
    assert {"empty_0_bytes.dcm", "random_bytes.dcm", "truncated_pixeldata_50pct.dcm",
            "truncated_header_1kB.dcm"} <= names
    assert len(result.series) > 10
    # The 30-slice lossless copies are the largest CT series.
    assert result.series[0].modality == "CT" and len(result.series[0]) == 30
    ignored = {Path(p).name for p in result.ignored}
    assert {"test-SR.dcm", "rtstruct.dcm"} <= ignored


@pytest.mark.parametrize("name", ["series-2-B70f", "series-3-B40f"])
def test_a0002_series_order_and_hu(shared_data, name):
    folder = _dicom(shared_data) / "lung-pet-ct-dx-A0002" / name
    series = load(folder).series[0]
    assert series.kind == "dicom-series" and len(series) == 30 and series.hu
    positions = series.slice_positions
    assert positions is not None and len(positions) == 30
    steps = np.diff(positions)
    assert np.allclose(steps, steps[0]) and abs(abs(steps[0]) - 8.0) < 1e-3
    files_z = [float(pydicom.dcmread(series.slice_path(i), stop_before_pixels=True)
                     .ImagePositionPatient[2]) for i in range(30)]
    assert files_z == positions
    for i in (0, 15, 29):
        hu = series.pixels(i)
        assert -1100 <= hu.min() < -900 and 500 < hu.max() < 4000
        np.testing.assert_array_equal(hu, _reference_hu(series.slice_path(i)))


def test_a0002_folder_offers_both_series(shared_data):
    result = load(_dicom(shared_data) / "lung-pet-ct-dx-A0002")
    assert sorted(len(s) for s in result.series) == [30, 30]
    assert {s.description.split()[-1] for s in result.series} == {"B70f", "B40f"}
    assert not result.skipped
    assert any(p.suffix == ".xml" for p in result.ignored)


@pytest.mark.parametrize("copy", ["series_j2k_lossless", "series_rle_lossless"])
def test_compressed_copies_pixel_identical(shared_data, copy):
    root = _dicom(shared_data)
    derived = load(root / "edge-cases" / "derived_from_lung_pet_ct_dx" / copy).series[0]
    originals = load(root / "lung-pet-ct-dx-A0002").series
    original = next(s for s in originals if (s.rows, s.cols) == (derived.rows, derived.cols)
                    and s.description.split()[-1] in derived.description)
    assert len(derived) == len(original) == 30
    assert derived.slice_positions == original.slice_positions
    for i in range(30):
        np.testing.assert_array_equal(derived.pixels(i), original.pixels(i))


def test_fused_ct_98_slices(shared_data):
    series = load(_dicom(shared_data) / "lung-fused-ct-pathology-0001").series[0]
    assert len(series) == 98 and series.hu and series.modality == "CT"
    assert series.stored_windows and len(series.stored_windows) == 2
    assert np.allclose(np.abs(np.diff(series.slice_positions)), 1.0)
    assert not series.warnings
