"""The loaded-data types the viewer and the model code against: :class:`Series`,
:class:`TagRow`, :class:`LoadResult`.

A :class:`Series` is a stack of 2-D slices (one image file, one DICOM file possibly
multi-frame, or one DICOM series) in display order. Pixels are decoded lazily, one slice at
a time, into a bounded LRU cache holding compact dtypes (int16/uint16 where the modality
values fit), so a 500-slice CT never becomes a 500x512x512 float64 volume.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from lungview.errors import LoadError
from lungview.io.windowing import full_range_window, window_to_uint8

#: Default cache bounds: 64 slices and 256 MiB, whichever is reached first.
CACHE_SLICES = 64
CACHE_BYTES = 256 * 1024 * 1024


class TagRow(NamedTuple):
    """One line of the DICOM tag browser."""

    tag: str        # "(0010,0010)"
    keyword: str    # indented by two spaces per sequence level
    vr: str
    value: str


@dataclass
class SliceRef:
    """Where one slice comes from and how to present it (built by the loaders).

    ``voi_lut`` maps the slice's modality values straight to 0-255 when the file carries a
    VOI LUT Sequence; ``windows`` are its stored (centre, width) pairs.
    """

    path: Path
    frame: int = 0
    sop_uid: str | None = None
    position: float | None = None
    instance: int | None = None
    windows: list[tuple[float, float]] = field(default_factory=list)
    voi_function: str = "LINEAR"
    voi_lut: Callable[[np.ndarray], np.ndarray] | None = None
    monochrome1: bool = False
    extra: Any = None  # loader-private data (e.g. the pixel-module dataset)


class _LRU:
    """Thread-safe LRU of decoded slices bounded by count and by bytes."""

    def __init__(self, max_items: int, max_bytes: int) -> None:
        self.max_items = max(1, int(max_items))
        self.max_bytes = max(1, int(max_bytes))
        self._data: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: int) -> np.ndarray | None:
        with self._lock:
            arr = self._data.get(key)
            if arr is not None:
                self._data.move_to_end(key)
            return arr

    def put(self, key: int, arr: np.ndarray) -> None:
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._data[key] = arr
            self._bytes += arr.nbytes
            # Always keep the newest entry, even if it alone exceeds the byte bound.
            while len(self._data) > 1 and (len(self._data) > self.max_items
                                           or self._bytes > self.max_bytes):
                _, evicted = self._data.popitem(last=False)
                self._bytes -= evicted.nbytes

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"slices": len(self._data), "bytes": self._bytes,
                    "max_slices": self.max_items, "max_bytes": self.max_bytes}


def compact(values: np.ndarray) -> np.ndarray:
    """Store modality values in the smallest faithful dtype: int16/uint16 when integral and
    in range (and uint8 for 8-bit data), else float32."""
    arr = np.asarray(values)
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.dtype in (np.uint8, np.int16, np.uint16, np.float32):
        return np.ascontiguousarray(arr)
    if arr.size == 0:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or not np.array_equal(np.rint(arr), arr):
            return arr.astype(np.float32)
    elif not np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float32)
    lo, hi = float(arr.min()), float(arr.max())
    if 0 <= lo and hi <= 255 and np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.uint8)
    if -32768 <= lo and hi <= 32767:
        return arr.astype(np.int16)
    if 0 <= lo and hi <= 65535:
        return arr.astype(np.uint16)
    return arr.astype(np.float32)


class Series:
    """One stack of slices in display order; see the module docstring.

    Attributes are plain (read them, do not set them); the methods decode on demand and
    raise :class:`LoadError` naming the slice's file when that slice cannot be decoded.
    """

    def __init__(self, *, source: Path, kind: str, slices: list[SliceRef], rows: int,
                 cols: int, decoder: Callable[[SliceRef], np.ndarray],
                 tag_reader: Callable[[SliceRef], list[TagRow]] | None = None,
                 modality: str | None = None,
                 pixel_spacing: tuple[float, float] | None = None,
                 slice_thickness: float | None = None,
                 slice_positions: list[float] | None = None, hu: bool = False,
                 warnings: list[str] | None = None,
                 stored_windows: list[tuple[float, float]] | None = None,
                 description: str = "", series_uid: str | None = None, case_id: str = "",
                 patient: dict[str, str] | None = None, notes: list[str] | None = None,
                 voi_function: str = "LINEAR", eight_bit: bool = False,
                 cache_slices: int = CACHE_SLICES, cache_bytes: int = CACHE_BYTES) -> None:
        self.source = Path(source)
        self.kind = kind
        self.modality = modality
        self.rows = int(rows)
        self.cols = int(cols)
        self.pixel_spacing = pixel_spacing
        self.slice_thickness = slice_thickness
        self.slice_positions = slice_positions
        self.hu = bool(hu)
        self.warnings = list(warnings or [])
        self.stored_windows = list(stored_windows or [])
        self.description = description
        self.series_uid = series_uid
        self.case_id = case_id
        self.patient = dict(patient or {})
        self.notes = list(notes or [])
        self.voi_function = voi_function
        self.eight_bit = eight_bit
        self._slices = list(slices)
        self._decoder = decoder
        self._tag_reader = tag_reader
        self._cache = _LRU(cache_slices, cache_bytes)
        self._default_window: tuple[float, float] | None = None

    # -- sizes and lookups -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._slices)

    def __repr__(self) -> str:
        return (f"Series({self.kind}, {self.modality}, {len(self)} x {self.rows}x{self.cols}, "
                f"{self.description!r})")

    def _ref(self, i: int) -> SliceRef:
        if not 0 <= int(i) < len(self._slices):
            raise IndexError(f"slice {i} out of range 0..{len(self._slices) - 1}")
        return self._slices[int(i)]

    def slice_path(self, i: int) -> Path:
        """The file holding slice ``i``."""
        return self._ref(i).path

    def sop_uid(self, i: int) -> str | None:
        """SOPInstanceUID of slice ``i`` (None for images)."""
        return self._ref(i).sop_uid

    def cache_info(self) -> dict[str, int]:
        """How many decoded slices (and bytes) the LRU cache holds, and its bounds."""
        return self._cache.stats()

    # -- pixels ------------------------------------------------------------------------
    def _values(self, i: int) -> np.ndarray:
        ref = self._ref(i)
        arr = self._cache.get(int(i))
        if arr is None:
            arr = compact(self._decoder(ref))
            if arr.shape != (self.rows, self.cols):
                raise LoadError(ref.path, (
                    f"slice {i} is {arr.shape[1]}x{arr.shape[0]} pixels, not "
                    f"{self.cols}x{self.rows} like the rest of the series"))
            arr.setflags(write=False)
            self._cache.put(int(i), arr)
        return arr

    def pixels(self, i: int) -> np.ndarray:
        """Slice ``i`` as 2-D float32: HU when :attr:`hu`, else modality/pixel values
        (grayscale). A fresh array: the caller may modify it."""
        return self._values(i).astype(np.float32)

    def default_window(self) -> tuple[float, float]:
        """First stored window, else the full data range of the centre slice (8-bit
        data: (127.5, 255))."""
        if self.stored_windows:
            return self.stored_windows[0]
        if self.eight_bit:
            return (127.5, 255.0)
        if self._default_window is None:
            self._default_window = full_range_window(self._values(len(self) // 2))
        return self._default_window

    def display(self, i: int, window: tuple[float, float] | None = None) -> np.ndarray:
        """Slice ``i`` as 2-D uint8 for the screen.

        ``window`` (centre, width) is applied to :meth:`pixels` with the series' VOI
        function; ``None`` means "as the file says": its VOI LUT Sequence, else its first
        stored window, else the slice's full range (8-bit data: identity). MONOCHROME1 is
        inverted after windowing.
        """
        ref = self._ref(i)
        values = self._values(i)
        if window is not None:
            out = window_to_uint8(values, window[0], window[1], self.voi_function)
        elif ref.voi_lut is not None:
            out = ref.voi_lut(values)
        elif ref.windows:
            out = window_to_uint8(values, *ref.windows[0], ref.voi_function)
        elif self.eight_bit:
            out = np.clip(values, 0, 255).astype(np.uint8)
        else:
            out = window_to_uint8(values, *full_range_window(values), "LINEAR")
        if ref.monochrome1:
            out = 255 - out
        return np.ascontiguousarray(out, dtype=np.uint8)

    # -- metadata ----------------------------------------------------------------------
    def tags(self, i: int) -> list[TagRow]:
        """Tag browser rows of slice ``i`` (empty for plain images)."""
        ref = self._ref(i)
        return self._tag_reader(ref) if self._tag_reader is not None else []

    def info(self) -> dict[str, Any]:
        """The object ``lungview info`` prints for this series (no patient identifiers)."""
        return {
            "path": str(self.source),
            "kind": self.kind,
            "modality": self.modality,
            "slices": len(self),
            "rows": self.rows,
            "cols": self.cols,
            "pixel_spacing": list(self.pixel_spacing) if self.pixel_spacing else None,
            "slice_positions": (list(self.slice_positions)
                                if self.slice_positions is not None else None),
            "hu": self.hu,
            "warnings": list(self.warnings),
            "description": self.description,
            "series_uid": self.series_uid,
            "slice_thickness": self.slice_thickness,
            "stored_windows": [list(w) for w in self.stored_windows],
            "notes": list(self.notes),
        }


@dataclass
class LoadResult:
    """What :func:`lungview.io.load` returns.

    ``series``: default first (largest CT series first, then the others); ``skipped``:
    files of a folder that failed, one :class:`LoadError` each; ``ignored``: DICOM objects
    without images (reports, structure sets, DICOMDIR) that were passed over.
    """

    series: list[Series]
    skipped: list[LoadError] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)
