"""DICOM pixels and series assembly: parsed headers -> :class:`Series`.

Headers are parsed once up front (:mod:`lungview.io.dicom_header`); pixels are decoded one
frame at a time when a slice is first shown, through pydicom (with the pylibjpeg plugins for
JPEG, JPEG-LS, JPEG 2000 and RLE). The value pipeline is the one the standard and the
mature viewers use: stored values -> Modality LUT (rescale or Modality LUT Sequence, to HU
for CT) -> VOI (window or VOI LUT Sequence, at display time) -> MONOCHROME1 inversion last
(in :meth:`Series.display`).

Slices of a series are ordered along the slice normal (the cross product of the
ImageOrientationPatient cosines), head-first for axial stacks unless the InstanceNumbers
run the other way; InstanceNumber is the fallback when positions or a common orientation
are missing. Gaps, duplicates, mixed orientations and localizers become warnings.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID

from lungview.errors import LoadError
from lungview.imaging.preprocess import to_gray
from lungview.io.dicom_header import FileHeader, FrameInfo, read_header
from lungview.io.series import Series, SliceRef, TagRow
from lungview.io.windowing import lut_to_uint8

#: Positions closer than this (mm) along the normal count as the same position.
_SAME_POSITION_MM = 1e-3
#: Two orientations whose cosines differ by more than this are "different".
_ORIENTATION_TOL = 1e-3
#: A step this many times the median spacing (or more) is reported as a gap.
_GAP_FACTOR = 1.5
#: Cap of the tag browser (Enhanced objects can hold tens of thousands of elements).
MAX_TAG_ROWS = 5000

_DECODE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, RuntimeError,
                  NotImplementedError, OSError, EOFError, struct.error, zlib.error,
                  OverflowError)


# -- pixels --------------------------------------------------------------------------------
def _read_dataset(path: Path, transfer_syntax: str) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, force=True)
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        new_meta = FileMetaDataset()
        if meta is not None:
            new_meta.update(meta)
        new_meta.TransferSyntaxUID = UID(transfer_syntax)
        ds.file_meta = new_meta
    return ds


def _decode_stored(path: Path, frame: int, n_frames: int, transfer_syntax: str,
                   lut_ds: Dataset) -> np.ndarray:
    """The stored values of one frame (colour already converted to RGB).

    pydicom reads just that frame's bytes when given the path (a multi-frame file is not
    read whole for every frame); deflated files, which it cannot read that way, and any
    file the path route fails on go through a full ``dcmread`` instead.
    """
    index = frame if n_frames > 1 else None
    arr = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not UID(transfer_syntax).is_deflated:
            try:
                arr = pydicom.pixels.pixel_array(path, index=index)
            except _DECODE_ERRORS:
                arr = None
        if arr is None:
            ds = _read_dataset(path, transfer_syntax)
            if not any(kw in ds for kw in ("PixelData", "FloatPixelData",
                                           "DoubleFloatPixelData")):
                raise LoadError(path, "the DICOM file has image attributes but no pixel data")
            arr = pydicom.pixels.pixel_array(ds, index=index)
        photometric = str(lut_ds.get("PhotometricInterpretation", "")).upper()
        if photometric == "PALETTE COLOR":
            arr = pydicom.pixels.apply_color_lut(arr, lut_ds)
    return arr


def decode_slice(ref: SliceRef) -> np.ndarray:
    """Modality values of one slice (HU for CT), 2-D; colour reduced to grey."""
    extra: dict[str, Any] = ref.extra
    lut_ds: Dataset = extra["lut_ds"]
    try:
        arr = _decode_stored(ref.path, ref.frame, extra["n_frames"], extra["transfer_syntax"],
                             lut_ds)
        colour = extra["samples"] > 1 or str(
            lut_ds.get("PhotometricInterpretation", "")).upper() == "PALETTE COLOR"
        if colour and arr.ndim == 3 and arr.shape[-1] in (3, 4):
            gray = to_gray(arr)
            if np.issubdtype(arr.dtype, np.integer):
                return np.clip(np.rint(gray), 0, np.iinfo(arr.dtype).max).astype(arr.dtype)
            return gray.astype(np.float32)
        if arr.ndim != 2:
            raise LoadError(ref.path, f"frame {ref.frame} decoded to shape {arr.shape}, "
                                      "not a 2-D image")
        if "ModalityLUTSequence" in lut_ds:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arr = pydicom.pixels.apply_modality_lut(arr, lut_ds)
        elif "RescaleSlope" in lut_ds:
            arr = _rescale(arr, float(lut_ds.RescaleSlope),
                           float(lut_ds.get("RescaleIntercept", 0) or 0))
        return arr
    except LoadError:
        raise
    except MemoryError:
        raise LoadError(ref.path, "not enough memory to decode this image") from None
    except _DECODE_ERRORS as exc:
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise LoadError(ref.path, f"the pixel data cannot be decoded "
                                  f"({extra['syntax_name']}): {reason}") from None


def _rescale(arr: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """Rescale slope/intercept (PS3.3 C.11.1.1), in integers when both are whole numbers
    (the usual CT case: no float64 volume, exact HU), else in float32."""
    if np.issubdtype(arr.dtype, np.integer) and slope.is_integer() and intercept.is_integer():
        out = arr.astype(np.int64 if arr.dtype.itemsize >= 4 else np.int32)
        if slope != 1.0:
            out *= int(slope)
        if intercept != 0.0:
            out += int(intercept)
        return out
    return arr.astype(np.float32) * np.float32(slope) + np.float32(intercept)


def _voi_lut_function(lut_ds: Dataset):
    """A callable values -> uint8 for a VOI LUT Sequence, or None."""
    seq = lut_ds.get("VOILUTSequence")
    if not seq:
        return None
    item = seq[0]
    try:
        # The LUT's own output range, read through pydicom (LUTData may be bytes or words).
        n, first = int(item.LUTDescriptor[0]) or 65536, int(item.LUTDescriptor[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            entries = pydicom.pixels.apply_voi(np.arange(first, first + n), lut_ds, index=0)
        lo, hi = float(np.min(entries)), float(np.max(entries))
    except _DECODE_ERRORS:
        return None

    def apply(mod_values: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mapped = pydicom.pixels.apply_voi(np.asarray(mod_values), lut_ds, index=0)
        return lut_to_uint8(mapped, lo, hi)

    return apply


# -- tags ----------------------------------------------------------------------------------
def _value_text(elem: Any) -> str:
    if elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") or elem.tag == 0x7FE00010:
        try:
            n = len(elem.value) if elem.value is not None else 0
        except TypeError:
            n = 0
        return f"<{n} bytes>"
    try:
        text = str(elem.value) if elem.value is not None else ""
    except (ValueError, TypeError, UnicodeError):
        text = repr(elem.value)
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."


def _walk(ds: Dataset, depth: int, rows: list[TagRow]) -> None:
    for elem in ds:
        if len(rows) >= MAX_TAG_ROWS:
            return
        tag = f"({elem.tag.group:04X},{elem.tag.element:04X})"
        keyword = elem.keyword or elem.name or "(private)"
        indent = "  " * depth
        if elem.VR == "SQ":
            rows.append(TagRow(tag, indent + keyword, "SQ", f"{len(elem.value)} item(s)"))
            for k, item in enumerate(elem.value):
                rows.append(TagRow("", indent + f"  item {k + 1}", "", ""))
                _walk(item, depth + 2, rows)
        else:
            rows.append(TagRow(tag, indent + keyword, str(elem.VR), _value_text(elem)))


def read_tags(ref: SliceRef) -> list[TagRow]:
    """Tag browser rows of ``ref``'s file (header only; pixel data shown by size)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(ref.path, stop_before_pixels=True, force=True)
            rows: list[TagRow] = []
            if getattr(ds, "file_meta", None):
                _walk(ds.file_meta, 0, rows)
            _walk(ds, 0, rows)
    except _DECODE_ERRORS as exc:
        raise LoadError(ref.path, f"the DICOM header cannot be read ({exc})") from None
    return rows


# -- geometry and ordering -----------------------------------------------------------------
def _normal(orientation: tuple[float, ...]) -> np.ndarray | None:
    row = np.asarray(orientation[:3], dtype=np.float64)
    col = np.asarray(orientation[3:6], dtype=np.float64)
    n = np.cross(row, col)
    norm = float(np.linalg.norm(n))
    return n / norm if norm > 1e-6 else None


def _same_orientation(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return bool(np.max(np.abs(np.asarray(a) - np.asarray(b))) <= _ORIENTATION_TOL)


def order_frames(frames: list[FrameInfo]) -> tuple[list[FrameInfo], list[float] | None,
                                                   list[str]]:
    """Display order of ``frames``, their positions along the normal (mm) when known, and
    warnings (duplicates, gaps, mixed orientations, missing positions)."""
    warn: list[str] = []
    if not frames:
        return [], None, warn
    # Duplicated objects (same SOPInstanceUID and frame) are dropped.
    seen: set[tuple[str, int]] = set()
    unique: list[FrameInfo] = []
    dupes = 0
    for fr in frames:
        key = (fr.sop_uid, fr.frame) if fr.sop_uid else None
        if key is not None and key in seen:
            dupes += 1
            continue
        if key is not None:
            seen.add(key)
        unique.append(fr)
    if dupes:
        warn.append(f"{dupes} duplicate image(s) (same SOPInstanceUID) ignored")
    frames = unique
    if len(frames) == 1:
        fr = frames[0]
        n = _normal(fr.orientation) if fr.orientation else None
        pos = (float(np.dot(n, fr.position)) if n is not None and fr.position else None)
        return frames, ([pos] if pos is not None else None), warn

    orientations = [fr.orientation for fr in frames]
    distinct: list[tuple[float, ...]] = []
    for o in orientations:
        if o is not None and not any(_same_orientation(o, d) for d in distinct):
            distinct.append(o)
    have_geometry = all(fr.position is not None and fr.orientation is not None
                        for fr in frames)
    if len(distinct) > 1:
        warn.append(f"mixed orientations: {len(distinct)} different slice orientations in "
                    "one series; ordered by InstanceNumber, no slice positions")
    normal = _normal(distinct[0]) if len(distinct) == 1 else None
    if have_geometry and normal is not None:
        pos = {id(fr): float(np.dot(normal, fr.position)) for fr in frames}
        ordered = sorted(frames, key=lambda fr: (-pos[id(fr)], fr.instance or 0, fr.frame))
        # Head-first (descending along the normal) unless InstanceNumbers run the other way.
        inst = [fr.instance for fr in ordered]
        if all(i is not None for i in inst) and len(set(inst)) > 1:
            ranks = np.asarray(inst, dtype=np.float64)
            corr = np.corrcoef(np.arange(len(ranks)), ranks)[0, 1]
            if np.isfinite(corr) and corr < 0:
                ordered = sorted(frames, key=lambda fr: (pos[id(fr)], fr.instance or 0,
                                                         fr.frame))
        positions = [pos[id(fr)] for fr in ordered]
        steps = np.abs(np.diff(np.asarray(positions)))
        same = int(np.sum(steps < _SAME_POSITION_MM))
        if same:
            warn.append(f"{same} slice(s) share a position with another slice "
                        "(duplicate positions)")
        moving = steps[steps >= _SAME_POSITION_MM]
        if moving.size >= 2:
            median = float(np.median(moving))
            gaps = moving[moving > _GAP_FACTOR * median]
            if gaps.size:
                warn.append(f"{gaps.size} gap(s) in the slice spacing (largest "
                            f"{float(gaps.max()):.2f} mm, usual {median:.2f} mm): slices "
                            "may be missing")
        return ordered, positions, warn

    if len(distinct) <= 1:
        warn.append("slice positions or orientation missing: ordered by InstanceNumber")
    ordered = sorted(frames, key=lambda fr: (fr.instance is None, fr.instance or 0,
                                             str(fr.path), fr.frame))
    return ordered, None, warn


# -- series --------------------------------------------------------------------------------
def _syntax_name(ts: str) -> str:
    uid = UID(ts)
    return uid.name if uid.name and uid.name != ts else ts


def series_from_headers(headers: list[FileHeader], *, source: Path, kind: str,
                        extra_warnings: list[str] | None = None) -> Series:
    """One :class:`Series` from the parsed headers of its files (all frames)."""
    first = headers[0]
    frames: list[FrameInfo] = []
    by_path: dict[Path, FileHeader] = {}
    for h in headers:
        frames.extend(h.frames)
        by_path[h.path] = h
    warn: list[str] = list(extra_warnings or [])
    counts = Counter(w for h in headers for w in dict.fromkeys(h.warnings))
    for text, n in list(counts.items())[:10]:
        warn.append(text if len(headers) == 1 else f"{text} ({n} of {len(headers)} files)")
    ordered, positions, order_warn = order_frames(frames)
    warn.extend(order_warn)

    refs: list[SliceRef] = []
    for fr in ordered:
        h = by_path[fr.path]
        refs.append(SliceRef(
            path=fr.path, frame=fr.frame, sop_uid=fr.sop_uid,
            position=None if positions is None else positions[len(refs)],
            instance=fr.instance, windows=list(fr.windows), voi_function=fr.voi_function,
            voi_lut=_voi_lut_function(fr.lut_ds), monochrome1=h.photometric == "MONOCHROME1",
            extra={"lut_ds": fr.lut_ds, "n_frames": len(h.frames),
                   "transfer_syntax": h.transfer_syntax, "samples": h.samples,
                   "syntax_name": _syntax_name(h.transfer_syntax)}))
    used = [by_path[p] for p in dict.fromkeys(fr.path for fr in ordered)]
    if len({h.hu for h in used}) > 1:
        warn.append("some files have Hounsfield units and some do not: values shown raw")
    centre = refs[len(refs) // 2]
    notes: list[str] = []
    if first.photometric not in ("MONOCHROME1", "MONOCHROME2"):
        notes.append(f"{first.photometric} image converted to grayscale")
    if first.photometric == "MONOCHROME1":
        notes.append("MONOCHROME1: shown inverted (after windowing)")
    if any(ref.voi_lut is not None for ref in refs):
        notes.append("VOI LUT Sequence applied when the window is 'from file'")
    return Series(
        source=source, kind=kind, slices=refs, rows=first.rows, cols=first.cols,
        decoder=decode_slice, tag_reader=read_tags, modality=first.modality,
        pixel_spacing=first.pixel_spacing, slice_thickness=first.slice_thickness,
        slice_positions=positions, hu=all(h.hu for h in used), warnings=warn,
        stored_windows=list(centre.windows), description=first.description,
        series_uid=first.series_uid, case_id=first.series_uid or f"file:{first.path}",
        patient=first.patient, notes=notes, voi_function=centre.voi_function,
        eight_bit=all(h.eight_bit for h in used))


def check_native_length(header: FileHeader) -> None:
    """Refuse an uncompressed file too short for its declared pixels (cheap truncation
    check that needs no decode)."""
    uid = UID(header.transfer_syntax)
    if uid.is_compressed or uid.is_deflated:
        return
    n_frames = len(header.frames)
    bits = header.rows * header.cols * header.samples * n_frames * max(
        bits_allocated(header), 1)
    need = (bits + 7) // 8
    try:
        size = header.path.stat().st_size
    except OSError:
        return
    declared = header.pixel_length
    if declared is not None and declared != 0xFFFFFFFF:
        if declared < need:
            raise LoadError(header.path, (
                f"the pixel data is too short: {declared} bytes for {n_frames} frame(s) of "
                f"{header.cols}x{header.rows} that need {need}"))
        if header.pixel_offset is not None and header.pixel_offset + need > size:
            raise LoadError(header.path, (
                f"the pixel data is truncated: the file ends {header.pixel_offset + need - size}"
                f" bytes before the end of the image ({need} bytes needed)"))
    elif size < need:
        raise LoadError(header.path, (
            f"the pixel data is truncated: {need} bytes are needed for {n_frames} frame(s) "
            f"of {header.cols}x{header.rows}, but the whole file is {size} bytes"))


def load_dicom_file(path: Path) -> Series:
    """One DICOM file (possibly multi-frame) as a :class:`Series` of kind ``dicom-file``;
    the first frame is decoded now so that a broken file fails here, not on screen."""
    header = read_header(path)
    check_native_length(header)
    series = series_from_headers([header], source=path, kind="dicom-file")
    series.pixels(len(series) // 2)
    return series


def bits_allocated(header: FileHeader) -> int:
    ds = header.frames[0].lut_ds
    try:
        return int(ds.get("BitsAllocated", 16) or 16)
    except (TypeError, ValueError):
        return 16


def group_headers(headers: list[FileHeader]) -> list[tuple[list[FileHeader], list[str]]]:
    """Split a folder's headers into series: by SeriesInstanceUID (a file without one is
    its own series), then by image size; localizers go to their own series."""
    groups: dict[Any, list[FileHeader]] = {}
    for h in headers:
        key = h.series_uid or f"file:{h.path}"
        groups.setdefault(key, []).append(h)
    out: list[tuple[list[FileHeader], list[str]]] = []
    for members in groups.values():
        warn: list[str] = []
        locs = [h for h in members if h.frames and all(f.localizer for f in h.frames)]
        rest = [h for h in members if h not in locs] or locs
        if locs and rest is not locs:
            warn.append(f"{len(locs)} localizer image(s) shown as a separate series")
            out.append((locs, ["localizer images (scout) of this series"]))
        sizes = Counter((h.rows, h.cols) for h in rest)
        if len(sizes) > 1:
            main = sizes.most_common(1)[0][0]
            odd = [h for h in rest if (h.rows, h.cols) != main]
            warn.append(f"{len(odd)} image(s) with a different size shown as separate "
                        "series")
            for size in sizes:
                if size != main:
                    out.append(([h for h in rest if (h.rows, h.cols) == size],
                                ["images of a different size split from their series"]))
            rest = [h for h in rest if (h.rows, h.cols) == main]
        out.append((rest, warn))
    return out
