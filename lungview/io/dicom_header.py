"""Reading one DICOM file's header (never its pixels) into what the series builder needs.

Headers are read with pydicom's ``defer_size``, so pixel data (and other large values) stay
on disk while the Pixel Data element's declared length and offset are still known (a
truncated uncompressed file is refused without decoding it). For multi-frame objects (Enhanced CT/MR)
each frame's position, orientation, rescale and window come from its Per-Frame Functional
Groups item, then the Shared Functional Groups, then the top-level dataset (PS3.3
C.7.6.16). Everything a decode needs later (transfer syntax, the Modality/VOI LUT module
elements, palettes) is copied into a small per-frame pydicom ``Dataset`` so that decoding
can call pydicom's own ``apply_modality_lut``/``apply_voi`` without re-reading the header.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (UID, ExplicitVRBigEndian, ExplicitVRLittleEndian,
                         ImplicitVRLittleEndian)

from lungview.errors import LoadError
from lungview.io.images import MAX_PIXELS

DICOM_EXTENSIONS = {".dcm", ".dicom", ".dic", ".ima"}

_PALETTE_KEYWORDS = (
    "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData", "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData", "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData", "PaletteColorLookupTableUID",
)
_PIXEL_MODULE = ("PhotometricInterpretation", "BitsAllocated", "BitsStored", "HighBit",
                 "PixelRepresentation", "SamplesPerPixel", "PlanarConfiguration",
                 "Rows", "Columns")

#: Values longer than this stay on disk while a header is parsed.
_DEFER_BYTES = 4096
_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)  # Pixel, Float, Double Float Pixel Data

PATIENT_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName")


class NoImageError(LoadError):
    """A readable DICOM object that holds no image (SR, RT structure set, DICOMDIR...)."""


@dataclass
class FrameInfo:
    """One slice candidate: a frame of a file, with its own geometry and LUTs."""

    path: Path
    frame: int
    sop_uid: str | None
    instance: int | None
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    windows: list[tuple[float, float]]
    voi_function: str
    lut_ds: Dataset
    localizer: bool


@dataclass
class FileHeader:
    """Series-level facts of one file plus its frames."""

    path: Path
    transfer_syntax: str
    modality: str | None
    series_uid: str | None
    description: str
    rows: int
    cols: int
    photometric: str
    samples: int
    eight_bit: bool
    hu: bool
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    patient: dict[str, str]
    frames: list[FrameInfo]
    warnings: list[str] = field(default_factory=list)
    #: Declared length and file offset of the pixel data value (None: not found;
    #: length 0xFFFFFFFF: encapsulated, i.e. compressed).
    pixel_length: int | None = None
    pixel_offset: int | None = None


def looks_like_dicom(head: bytes) -> bool:
    """True when ``head`` has the DICM marker, or starts like a preamble-less DICOM data
    set (a group 0002/0008 element, explicit or implicit VR little endian)."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    if len(head) < 8:
        return False
    if looks_like_big_endian_dicom(head):
        return True
    group, elem = struct.unpack("<HH", head[:4])
    if group not in (0x0002, 0x0008) or elem > 0x0100:
        return False
    vr = head[4:6]
    if vr.isalpha() and vr.isupper():
        return True
    return struct.unpack("<I", head[4:8])[0] < 1024


def looks_like_big_endian_dicom(head: bytes) -> bool:
    """True for a preamble-less, meta-less data set in explicit VR big endian."""
    if len(head) < 8 or head[128:132] == b"DICM":
        return False
    group, elem = struct.unpack(">HH", head[:4])
    vr = head[4:6]
    return group == 0x0008 and elem <= 0x0100 and vr.isalpha() and vr.isupper()


def _float(value: Any) -> float | None:
    try:
        if value is None or value == "":
            return None
        return float(value)
    except (TypeError, ValueError):
        return None


def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    try:
        vals = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return vals if len(vals) == n else None


def _fg(items: list[Dataset | None], seq: str, keyword: str) -> Any:
    """First value of ``keyword`` in the ``seq`` macro of the first item that has it."""
    for item in items:
        if item is None:
            continue
        macro = item.get(seq)
        if macro:
            value = macro[0].get(keyword)
            if value is not None and value != "":
                return value
    return None


def _multi(value: Any) -> list[float]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)) or hasattr(value, "__iter__") and not isinstance(
            value, (str, bytes)):
        return [float(v) for v in value]
    return [float(value)]


def _windows(centres: Any, widths: Any, warn: list[str]) -> list[tuple[float, float]]:
    try:
        cs, ws = _multi(centres), _multi(widths)
    except (TypeError, ValueError):
        warn.append("stored window values are not numbers and were ignored")
        return []
    out = []
    for c, w in zip(cs, ws):
        if w > 0:
            out.append((c, w))
        else:
            warn.append(f"stored window with width {w:g} ignored (width must be positive)")
    return out


def _transfer_syntax(ds: Dataset) -> str:
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if ts:
        return str(ts)
    implicit, little = ds.original_encoding
    if implicit or implicit is None:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def _read(path: Path) -> tuple[Dataset, list[str]]:
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError as exc:
        raise LoadError(path, f"the file cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise LoadError(path, "the file is empty (0 bytes)")
    if looks_like_big_endian_dicom(head):
        raise LoadError(path, "the file is a big-endian DICOM data set without file meta "
                              "information, which cannot be read reliably")
    caught: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as records:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(path, defer_size=_DEFER_BYTES, force=True)
        caught = [str(r.message) for r in records]
    except InvalidDicomError:
        raise LoadError(path, "the file is not DICOM") from None
    except (OSError, EOFError, struct.error, ValueError, KeyError, TypeError,
            AttributeError, NotImplementedError) as exc:
        raise LoadError(path, f"the DICOM header is truncated or corrupt ({exc})") from None
    has_marker = head[128:132] == b"DICM"
    if not has_marker and not ("SOPClassUID" in ds or "Rows" in ds or "Modality" in ds):
        raise LoadError(path, "the file is not DICOM (no DICM marker and no DICOM header)")
    return ds, caught


def read_header(path: Path) -> FileHeader:
    """Parse ``path``'s header.

    Raises
    ------
    NoImageError
        A valid DICOM object without pixel data.
    LoadError
        Anything else that makes the file unusable, with the reason.
    """
    ds, caught = _read(path)
    try:
        with warnings.catch_warnings(record=True) as records:
            warnings.simplefilter("always")
            header = _parse(path, ds, caught)
        for rec in records:
            text = "while reading the header: " + str(rec.message).split(" Please see")[0]
            if text not in header.warnings and len(header.warnings) < 5:
                header.warnings.append(text)
        return header
    except LoadError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError) as exc:
        raise LoadError(path, f"the DICOM header has an invalid value ({exc})") from None


def _parse(path: Path, ds: Dataset, caught: list[str]) -> FileHeader:
    pixel_elem = next((ds.get_item(t, keep_deferred=True) for t in _PIXEL_TAGS if t in ds),
                      None)
    pixel_length = getattr(pixel_elem, "length", None) if pixel_elem is not None else None
    pixel_offset = getattr(pixel_elem, "value_tell", None) if pixel_elem is not None else None
    if "Rows" not in ds or "Columns" not in ds:
        if pixel_elem is not None:
            raise LoadError(path, "the DICOM file has pixel data but no image size "
                                  "(Rows/Columns missing)")
        sop = ds.get("SOPClassUID")
        what = f"a {UID(str(sop)).name} object" if sop else "an object without an image"
        if "DirectoryRecordSequence" in ds:
            what = "a DICOMDIR index"
        raise NoImageError(path, f"the DICOM file holds no image (it is {what})")
    ts = _transfer_syntax(ds)
    uid = UID(ts)
    if not uid.is_transfer_syntax:
        raise LoadError(path, f"the pixel data uses the private transfer syntax {ts}, "
                              "which lungview cannot decode")
    rows, cols = int(ds.Rows), int(ds.Columns)
    if rows <= 0 or cols <= 0:
        raise LoadError(path, f"the DICOM header declares an empty {cols}x{rows} image")
    if rows * cols > MAX_PIXELS:
        raise LoadError(path, f"the image is {cols}x{rows} pixels, more than the "
                              f"{MAX_PIXELS / 1e6:.0f} megapixels lungview accepts")
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    bits_stored = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    warn: list[str] = [f"while reading the header: {m.split(' Please see')[0]}"
                       for m in dict.fromkeys(caught)][:3]
    modality = str(ds.Modality).strip() if ds.get("Modality") else None

    shared = ds.SharedFunctionalGroupsSequence[0] if ds.get(
        "SharedFunctionalGroupsSequence") else None
    per_frame = list(ds.PerFrameFunctionalGroupsSequence) if ds.get(
        "PerFrameFunctionalGroupsSequence") else []
    if per_frame and len(per_frame) != n_frames:
        warn.append(f"{len(per_frame)} per-frame functional groups for {n_frames} frames: "
                    "per-frame values ignored")
        per_frame = []

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = uid
    base = Dataset()
    base.file_meta = meta
    for kw in _PIXEL_MODULE:
        if kw in ds:
            base[kw] = ds[kw]
    if photometric == "PALETTE COLOR":
        for kw in _PALETTE_KEYWORDS:
            if kw in ds:
                base[kw] = ds[kw]
    mono = photometric in ("MONOCHROME1", "MONOCHROME2")
    if pixel_elem is None:
        raise LoadError(path, "the DICOM file has image attributes but no pixel data")
    if mono and ds.get("ModalityLUTSequence"):
        _ = ds.ModalityLUTSequence[0].get("LUTData")  # read deferred values now
        base.ModalityLUTSequence = ds.ModalityLUTSequence
    if mono and ds.get("VOILUTSequence"):
        item = ds.VOILUTSequence[0]
        if item.get("LUTDescriptor") is not None and item.get("LUTData") is not None:
            base.VOILUTSequence = ds.VOILUTSequence

    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])] if ds.get(
        "ImageType") else []
    localizer = "LOCALIZER" in image_type
    instance = ds.get("InstanceNumber")
    instance = int(instance) if instance not in (None, "") else None
    sop_uid = str(ds.SOPInstanceUID) if ds.get("SOPInstanceUID") else None

    frames: list[FrameInfo] = []
    rescale_types: set[str] = set()
    has_modality_transform = False
    cache: dict[tuple, Dataset] = {}
    for f in range(n_frames):
        items = [per_frame[f] if per_frame else None, shared]
        pos = _fg(items, "PlanePositionSequence", "ImagePositionPatient")
        if pos is None and (n_frames == 1 or not per_frame):
            # A single-frame object's position is top-level; a legacy multi-frame's
            # top-level position only describes its first frame.
            pos = ds.get("ImagePositionPatient") if f == 0 or n_frames == 1 else None
        orient = _fg(items, "PlaneOrientationSequence", "ImageOrientationPatient")
        if orient is None:
            orient = ds.get("ImageOrientationPatient")
        slope = _fg(items, "PixelValueTransformationSequence", "RescaleSlope")
        intercept = _fg(items, "PixelValueTransformationSequence", "RescaleIntercept")
        rtype = _fg(items, "PixelValueTransformationSequence", "RescaleType")
        if slope is None and intercept is None:
            slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
            rtype = ds.get("RescaleType")
        centre = _fg(items, "FrameVOILUTSequence", "WindowCenter")
        width = _fg(items, "FrameVOILUTSequence", "WindowWidth")
        function = _fg(items, "FrameVOILUTSequence", "VOILUTFunction")
        if centre is None or width is None:
            centre, width = ds.get("WindowCenter"), ds.get("WindowWidth")
            function = ds.get("VOILUTFunction")
        slope_f, intercept_f = _float(slope), _float(intercept)
        if slope_f is not None or intercept_f is not None:
            slope_f = 1.0 if slope_f is None else slope_f
            intercept_f = 0.0 if intercept_f is None else intercept_f
        if not mono:
            slope_f = intercept_f = None
        if slope_f == 0.0:
            warn.append("RescaleSlope is 0: every pixel has the same value")
        key = (slope_f, intercept_f)
        lut_ds = cache.get(key)
        if lut_ds is None:
            lut_ds = Dataset()
            lut_ds.file_meta = meta
            lut_ds.update(base)
            if slope_f is not None:
                lut_ds.RescaleSlope = slope_f
                lut_ds.RescaleIntercept = intercept_f
            cache[key] = lut_ds
        if slope_f is not None and not (slope_f == 1.0 and intercept_f == 0.0):
            has_modality_transform = True
        if "ModalityLUTSequence" in lut_ds or slope_f is not None:
            rescale_types.add(str(rtype or "").strip().upper())
        frame_warn: list[str] = []
        wins = _windows(centre, width, frame_warn) if mono else []
        for w in frame_warn:
            if w not in warn:
                warn.append(w)
        frames.append(FrameInfo(
            path=path, frame=f, sop_uid=sop_uid, instance=instance,
            position=_floats(pos, 3) if pos is not None else None,
            orientation=_floats(orient, 6) if orient is not None else None,
            windows=wins, voi_function=str(function or "LINEAR").strip().upper(),
            lut_ds=lut_ds, localizer=localizer))

    has_lut_seq = "ModalityLUTSequence" in base
    hu = (modality == "CT" and mono and (has_lut_seq or any(
        fr.lut_ds.get("RescaleSlope") is not None for fr in frames))
          and rescale_types <= {"", "HU", "US"})
    eight_bit = (bits_stored <= 8 and not signed and not has_lut_seq
                 and not has_modality_transform) or (not mono and bits_stored <= 8)

    spacing = _fg([per_frame[0] if per_frame else None, shared], "PixelMeasuresSequence",
                  "PixelSpacing")
    if spacing is None:
        spacing = ds.get("PixelSpacing")
    thickness = _fg([per_frame[0] if per_frame else None, shared], "PixelMeasuresSequence",
                    "SliceThickness")
    if thickness is None:
        thickness = ds.get("SliceThickness")
    ps = _floats(spacing, 2) if spacing is not None else None
    patient = {kw: str(ds.get(kw)) for kw in PATIENT_KEYWORDS
               if ds.get(kw) not in (None, "")}
    description = str(ds.get("SeriesDescription") or "").strip()
    return FileHeader(
        path=path, transfer_syntax=str(uid), modality=modality,
        series_uid=str(ds.SeriesInstanceUID) if ds.get("SeriesInstanceUID") else None,
        description=description, rows=rows, cols=cols, photometric=photometric,
        samples=samples, eight_bit=eight_bit, hu=hu,
        pixel_spacing=(ps[0], ps[1]) if ps else None,
        slice_thickness=_float(thickness), patient=patient, frames=frames, warnings=warn,
        pixel_length=pixel_length, pixel_offset=pixel_offset)
