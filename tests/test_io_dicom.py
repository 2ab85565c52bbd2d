"""DICOM loading on synthetic pydicom data sets: value pipeline, ordering, folder rules.

Each data set is written to a temporary file and read back through :func:`lungview.io.load`,
so these run on a fresh clone (no ../shared). Expected values are computed here from the
pixels and tags we wrote, independently of the loader (and checked against pydicom's own
LUT functions where one exists).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import apply_voi_lut
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from lungview.errors import LoadError
from lungview.io import LoadResult, Series, load
from lungview.io.windowing import window_to_uint8

ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
SR_STORAGE = "1.2.840.10008.5.1.4.1.1.88.33"


def make_ct(pixels: np.ndarray, *, series_uid: str | None = None, modality: str = "CT",
            position: tuple[float, float, float] | None = (0.0, 0.0, 0.0),
            orientation: tuple[float, ...] | None = (1, 0, 0, 0, 1, 0),
            instance: int | None = 1, slope: float | None = 1.0,
            intercept: float | None = -1024.0, photometric: str = "MONOCHROME2",
            bits_stored: int | None = None, **extra) -> Dataset:
    """A minimal single-frame CT data set holding ``pixels`` as stored values."""
    arr = np.ascontiguousarray(pixels)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.StudyInstanceUID = "1.2.3.4"
    ds.SeriesDescription = "synthetic"
    ds.PixelSpacing = [0.7, 0.8]
    ds.SliceThickness = 2.5
    if position is not None:
        ds.ImagePositionPatient = list(position)
    if orientation is not None:
        ds.ImageOrientationPatient = list(orientation)
    if instance is not None:
        ds.InstanceNumber = instance
    if slope is not None:
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        ds.RescaleType = "HU"
    bits = bits_stored or (8 if arr.dtype.itemsize == 1 else 16)
    ds.set_pixel_data(arr, photometric, bits, generate_instance_uid=False)
    for key, value in extra.items():
        setattr(ds, key, value)
    return ds


def write(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def stored(seed: int = 0, shape=(16, 12), lo=0, hi=3000, dtype=np.uint16) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(lo, hi, size=shape).astype(dtype)


def only(result: LoadResult) -> Series:
    assert len(result.series) == 1, result.series
    return result.series[0]


# -- value pipeline ------------------------------------------------------------------------
def test_rescale_to_hu_unsigned(tmp_path):
    raw = stored(1)
    s = only(load(write(make_ct(raw), tmp_path / "a.dcm")))
    assert s.kind == "dicom-file" and s.hu and s.modality == "CT"
    assert (s.rows, s.cols) == raw.shape and s.pixel_spacing == (0.7, 0.8)
    assert s.slice_thickness == 2.5
    np.testing.assert_array_equal(s.pixels(0), raw.astype(np.float32) - 1024)
    assert s.pixels(0).dtype == np.float32


@pytest.mark.parametrize("slope,intercept", [(-1.0, 100.0), (0.5, -1024.0), (2.5, -3.0)])
def test_negative_and_fractional_slopes(tmp_path, slope, intercept):
    raw = stored(2, lo=0, hi=4000)
    ds = make_ct(raw, slope=slope, intercept=intercept)
    s = only(load(write(ds, tmp_path / "a.dcm")))
    expected = raw.astype(np.float64) * slope + intercept
    np.testing.assert_allclose(s.pixels(0), expected, rtol=0, atol=1e-3)


def test_signed_pixels(tmp_path):
    raw = stored(3, lo=-2000, hi=2000, dtype=np.int16)
    ds = make_ct(raw, slope=1.0, intercept=0.0)
    assert ds.PixelRepresentation == 1
    s = only(load(write(ds, tmp_path / "a.dcm")))
    np.testing.assert_array_equal(s.pixels(0), raw.astype(np.float32))
    assert s.pixels(0).min() < 0


def test_no_rescale_means_no_hu(tmp_path):
    raw = stored(4)
    s = only(load(write(make_ct(raw, slope=None), tmp_path / "a.dcm")))
    assert not s.hu
    np.testing.assert_array_equal(s.pixels(0), raw)


def test_multivalued_stored_windows(tmp_path):
    raw = stored(5)
    ds = make_ct(raw, WindowCenter=[-600, 40], WindowWidth=[1500, 400])
    s = only(load(write(ds, tmp_path / "a.dcm")))
    assert s.stored_windows == [(-600.0, 1500.0), (40.0, 400.0)]
    assert s.default_window() == (-600.0, 1500.0)
    hu = raw.astype(np.float32) - 1024
    np.testing.assert_array_equal(s.display(0), window_to_uint8(hu, -600, 1500))
    # An explicit window overrides the stored one.
    np.testing.assert_array_equal(s.display(0, (40, 400)), window_to_uint8(hu, 40, 400))


def test_monochrome1_inverted_after_windowing(tmp_path):
    raw = stored(6, hi=1000)
    mono1 = make_ct(raw, photometric="MONOCHROME1", WindowCenter=0, WindowWidth=800)
    mono2 = make_ct(raw, photometric="MONOCHROME2", WindowCenter=0, WindowWidth=800)
    s1 = only(load(write(mono1, tmp_path / "m1.dcm")))
    s2 = only(load(write(mono2, tmp_path / "m2.dcm")))
    # Same HU either way: the inversion is a display matter only.
    np.testing.assert_array_equal(s1.pixels(0), s2.pixels(0))
    np.testing.assert_array_equal(s1.display(0), 255 - s2.display(0))
    np.testing.assert_array_equal(s1.display(0, (-200, 600)), 255 - s2.display(0, (-200, 600)))
    assert not np.array_equal(s1.display(0), s2.display(0))


def test_modality_lut_sequence(tmp_path):
    raw = stored(7, hi=256, dtype=np.uint16)
    lut = (np.arange(256, dtype=np.int32) * 3 + 7).astype(np.uint16)
    item = Dataset()
    item.LUTDescriptor = [256, 0, 16]
    item.LUTData = lut.tobytes()
    item.ModalityLUTType = "HU"
    ds = make_ct(raw, slope=None, ModalityLUTSequence=Sequence([item]))
    s = only(load(write(ds, tmp_path / "a.dcm")))
    np.testing.assert_array_equal(s.pixels(0), lut[raw].astype(np.float32))
    assert s.hu


def test_voi_lut_sequence_used_for_from_file_display(tmp_path):
    raw = stored(8, hi=4096)
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    lut = (np.sqrt(np.arange(4096)) * 64).astype(np.uint16)
    item.LUTData = lut.tobytes()
    ds = make_ct(raw, slope=None, VOILUTSequence=Sequence([item]))
    path = write(ds, tmp_path / "a.dcm")
    s = only(load(path))
    shown = s.display(0).astype(np.float64)
    expected = apply_voi_lut(raw, pydicom.dcmread(path)).astype(np.float64)
    expected = (expected - lut.min()) * 255.0 / (lut.max() - lut.min())
    np.testing.assert_allclose(shown, np.rint(expected), atol=1)
    # A preset still windows the modality values linearly.
    np.testing.assert_array_equal(s.display(0, (2000, 4000)),
                                  window_to_uint8(raw, 2000, 4000))


def _enhanced_ct(frames: np.ndarray, z: list[float], slopes: list[float],
                 intercepts: list[float]) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ENHANCED_CT
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = ENHANCED_CT
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "CT"
    ds.set_pixel_data(frames, "MONOCHROME2", 16, generate_instance_uid=False)
    ds.NumberOfFrames = len(frames)
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = [0.5, 0.5]
    measures.SliceThickness = 1.0
    shared.PixelMeasuresSequence = Sequence([measures])
    orient = Dataset()
    orient.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    shared.PlaneOrientationSequence = Sequence([orient])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per = []
    for k in range(len(frames)):
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [0, 0, z[k]]
        item.PlanePositionSequence = Sequence([pos])
        pvt = Dataset()
        pvt.RescaleSlope = slopes[k]
        pvt.RescaleIntercept = intercepts[k]
        pvt.RescaleType = "HU"
        item.PixelValueTransformationSequence = Sequence([pvt])
        voi = Dataset()
        voi.WindowCenter = 40 + k
        voi.WindowWidth = 400
        item.FrameVOILUTSequence = Sequence([voi])
        per.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per)
    return ds


def test_enhanced_multiframe_per_frame_groups(tmp_path):
    frames = np.stack([stored(10 + k, shape=(8, 10)) for k in range(3)])
    z = [10.0, 30.0, 20.0]  # stored out of order
    slopes, intercepts = [1.0, 2.0, 0.5], [-1024.0, -2000.0, 0.0]
    s = only(load(write(_enhanced_ct(frames, z, slopes, intercepts), tmp_path / "e.dcm")))
    assert s.kind == "dicom-file" and len(s) == 3 and s.hu
    assert s.pixel_spacing == (0.5, 0.5) and s.slice_thickness == 1.0
    assert s.slice_positions == [30.0, 20.0, 10.0]  # head first
    for shown, k in enumerate([1, 2, 0]):
        expected = frames[k].astype(np.float64) * slopes[k] + intercepts[k]
        np.testing.assert_allclose(s.pixels(shown), expected, atol=1e-3)
    assert s.stored_windows == [(42.0, 400.0)]  # centre slice (frame 2)


# -- single-file failures --------------------------------------------------------------------
def test_missing_path_is_typed(tmp_path):
    with pytest.raises(LoadError) as err:
        load(tmp_path / "nope.dcm")
    assert err.value.path.endswith("nope.dcm") and "no such" in err.value.reason


def test_truncated_pixel_data_is_typed(tmp_path):
    path = write(make_ct(stored(11, shape=(64, 64))), tmp_path / "t.dcm")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 3000])
    with pytest.raises(LoadError) as err:
        load(path)
    assert "truncated" in err.value.reason and err.value.path == str(path)


def test_object_without_image_is_typed(tmp_path):
    ds = make_ct(stored(12))
    del ds.PixelData
    for kw in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit",
               "PixelRepresentation", "SamplesPerPixel", "PhotometricInterpretation"):
        if kw in ds:
            delattr(ds, kw)
    ds.SOPClassUID = SR_STORAGE
    ds.file_meta.MediaStorageSOPClassUID = SR_STORAGE
    with pytest.raises(LoadError) as err:
        load(write(ds, tmp_path / "sr.dcm"))
    assert "no image" in err.value.reason


def test_huge_dimensions_refused_before_decoding(tmp_path):
    ds = make_ct(stored(13, shape=(4, 4)))
    ds.Rows = 60000
    ds.Columns = 60000
    with pytest.raises(LoadError) as err:
        load(write(ds, tmp_path / "huge.dcm"))
    assert "megapixels" in err.value.reason


# -- folders -----------------------------------------------------------------------------------
def _stack(folder: Path, z_values: list[float], uid: str | None = None, seed: int = 0,
           shape=(8, 8), names: list[str] | None = None, **kw) -> str:
    uid = uid or generate_uid()
    for k, z in enumerate(z_values):
        name = names[k] if names else f"s{seed}_{k:03d}.dcm"
        write(make_ct(stored(seed * 100 + k, shape=shape), series_uid=uid,
                      position=(0.0, 0.0, z), instance=k + 1, **kw), folder / name)
    return uid


def test_folder_sorted_along_normal_not_by_name(tmp_path):
    z = [float(v) for v in range(0, 50, 5)]
    names = [f"f{n:02d}.dcm" for n in random.Random(1).sample(range(len(z)), len(z))]
    _stack(tmp_path, z, names=names)
    s = only(load(tmp_path))
    assert s.kind == "dicom-series" and len(s) == 10
    # InstanceNumber rises with z here, so display order follows it (ascending).
    assert s.slice_positions == sorted(z)
    raws = [pydicom.dcmread(s.slice_path(i)).ImagePositionPatient[2] for i in range(len(s))]
    assert raws == sorted(z)
    assert s.warnings == []


def test_oblique_normal_positions(tmp_path):
    # Rows along x, columns along (0, cos, -sin): normal tilted by 30 degrees.
    c, si = np.cos(np.pi / 6), np.sin(np.pi / 6)
    orient = (1, 0, 0, 0, c, -si)
    normal = np.cross([1, 0, 0], [0, c, -si])
    uid = generate_uid()
    for k, d in enumerate([3.0, 1.0, 2.0]):
        pos = tuple(float(v) for v in normal * d + np.array([5.0, 0.0, 0.0]))
        write(make_ct(stored(k), series_uid=uid, position=pos, orientation=orient,
                      instance=None), tmp_path / f"{k}.dcm")
    s = only(load(tmp_path))
    np.testing.assert_allclose(s.slice_positions, [3.0, 2.0, 1.0], atol=1e-6)


def test_instance_number_fallback_and_warning(tmp_path):
    uid = generate_uid()
    for k, inst in enumerate([3, 1, 2]):
        write(make_ct(stored(k), series_uid=uid, position=None, instance=inst,
                      SeriesDescription=f"i{inst}"), tmp_path / f"{k}.dcm")
    s = only(load(tmp_path))
    assert s.slice_positions is None
    order = [pydicom.dcmread(s.slice_path(i)).InstanceNumber for i in range(3)]
    assert order == [1, 2, 3]
    assert any("InstanceNumber" in w for w in s.warnings)


def test_gap_and_duplicate_position_warnings(tmp_path):
    _stack(tmp_path, [0.0, 2.0, 4.0, 12.0, 14.0, 14.0])
    s = only(load(tmp_path))
    text = " | ".join(s.warnings)
    assert "gap" in text and "duplicate positions" in text
    assert len(s) == 6


def test_duplicate_sop_instance_dropped(tmp_path):
    _stack(tmp_path, [0.0, 1.0, 2.0])
    first = sorted(tmp_path.glob("*.dcm"))[0]
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / first.name).write_bytes(first.read_bytes())
    s = only(load(tmp_path))
    assert len(s) == 3
    assert any("duplicate image" in w for w in s.warnings)


def test_mixed_orientation_warning(tmp_path):
    uid = generate_uid()
    write(make_ct(stored(1), series_uid=uid, orientation=(1, 0, 0, 0, 1, 0), instance=1),
          tmp_path / "a.dcm")
    write(make_ct(stored(2), series_uid=uid, orientation=(1, 0, 0, 0, 0, -1), instance=2),
          tmp_path / "b.dcm")
    s = only(load(tmp_path))
    assert len(s) == 2 and s.slice_positions is None
    assert any("mixed orientations" in w for w in s.warnings)


def test_localizer_split_from_series(tmp_path):
    uid = _stack(tmp_path, [0.0, 1.0, 2.0, 3.0])
    write(make_ct(stored(9), series_uid=uid, orientation=(1, 0, 0, 0, 0, -1), instance=99,
                  ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"]), tmp_path / "scout.dcm")
    result = load(tmp_path)
    assert [len(s) for s in result.series] == [4, 1]
    assert any("localizer" in w for w in result.series[0].warnings)
    assert result.series[1].slice_path(0).name == "scout.dcm"


def test_largest_ct_series_first_and_bad_files_skipped(tmp_path):
    _stack(tmp_path / "small", [0.0, 1.0], seed=1)
    _stack(tmp_path / "mr", [0.0, 1.0, 2.0, 3.0, 4.0], seed=2, modality="MR")
    _stack(tmp_path / "big", [0.0, 1.0, 2.0, 3.0], seed=3)
    (tmp_path / "big" / "zz_broken.dcm").write_bytes(b"\x00" * 50)
    (tmp_path / "empty.dcm").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("hello")
    seen: list[tuple[int, int]] = []
    result = load(tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert [(s.modality, len(s)) for s in result.series] == [("CT", 4), ("CT", 2), ("MR", 5)]
    assert sorted(Path(e.path).name for e in result.skipped) == ["empty.dcm",
                                                                 "zz_broken.dcm"]
    assert all(isinstance(e, LoadError) and e.reason for e in result.skipped)
    assert [Path(p).name for p in result.ignored] == ["notes.txt"]
    assert seen[-1] == (14, 14) and [d for d, _ in seen] == list(range(1, 15))


def test_folder_with_nothing_loadable(tmp_path):
    (tmp_path / "a.dcm").write_bytes(b"garbage" * 100)
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(LoadError) as err:
        load(tmp_path)
    assert err.value.path == str(tmp_path) and "a.dcm" in err.value.reason
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LoadError):
        load(empty)


def test_tags_browser_rows(tmp_path):
    s = only(load(write(make_ct(stored(1), WindowCenter=[40, -600],
                                WindowWidth=[400, 1500]), tmp_path / "a.dcm")))
    rows = s.tags(0)
    by_kw = {r.keyword.strip(): r for r in rows}
    assert by_kw["Modality"].value == "CT" and by_kw["Modality"].tag == "(0008,0060)"
    assert by_kw["TransferSyntaxUID"].vr == "UI"
    assert "PixelData" not in by_kw  # header only


# -- memory --------------------------------------------------------------------------------------
def test_500_slice_series_bounded_cache(tmp_path):
    """500 slices load lazily: only the LRU's bound is ever held decoded."""
    uid = generate_uid()
    template = make_ct(stored(0, shape=(64, 64)), series_uid=uid)
    for k in range(500):
        template.SOPInstanceUID = generate_uid()
        template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
        template.ImagePositionPatient = [0.0, 0.0, float(k)]
        template.InstanceNumber = k + 1
        template.save_as(tmp_path / f"{k:04d}.dcm", enforce_file_format=True)
    s = only(load(tmp_path))
    assert len(s) == 500
    assert s.cache_info()["slices"] <= 1  # nothing decoded by the scan (maybe the default)
    bound = s.cache_info()["max_slices"]
    assert bound < 500
    for i in range(len(s)):
        assert s.pixels(i).shape == (64, 64)
        info = s.cache_info()
        assert info["slices"] <= bound and info["bytes"] <= info["max_bytes"]
    assert s.cache_info()["slices"] == bound
    # Compact storage: 64x64 int16 per cached slice, not float64.
    assert s.cache_info()["bytes"] == bound * 64 * 64 * 2


def test_tiff_header_in_preamble_is_still_dicom(tmp_path):
    """Dual-personality files put a TIFF header in the 128-byte preamble: the DICM
    marker wins over the image sniff."""
    raw = stored(21)
    ds = make_ct(raw)
    ds.preamble = b"II*\x00" + b"\x08\x00\x00\x00" + b"\x00" * 120
    s = only(load(write(ds, tmp_path / "dual.dcm")))
    assert s.kind == "dicom-file" and s.hu
    np.testing.assert_array_equal(s.pixels(0), raw.astype(np.float32) - 1024)


def test_preamble_less_implicit_dataset(tmp_path):
    raw = stored(22)
    ds = make_ct(raw)
    path = tmp_path / "bare"
    fh = pydicom.filebase.DicomFileLike(open(path, "wb"))
    fh.is_implicit_VR, fh.is_little_endian = True, True
    del ds.file_meta
    with fh:
        pydicom.filewriter.write_dataset(fh, ds)  # no preamble, no file meta (implicit LE)
    assert path.read_bytes()[:2] == b"\x08\x00"
    s = only(load(path))
    np.testing.assert_array_equal(s.pixels(0), raw.astype(np.float32) - 1024)


def test_single_file_progress_and_private_syntax(tmp_path):
    calls: list[tuple[int, int]] = []
    load(write(make_ct(stored(23)), tmp_path / "a.dcm"), progress=lambda d, t: calls.append(
        (d, t)))
    assert calls == [(1, 1)]
    ds = make_ct(stored(24))
    ds.file_meta.TransferSyntaxUID = "1.2.840.113619.5.2"  # GE private big endian
    path = tmp_path / "ge.dcm"
    ds.save_as(path, enforce_file_format=False, implicit_vr=True, little_endian=True)
    with pytest.raises(LoadError) as err:
        load(path)
    assert "private transfer syntax" in err.value.reason
