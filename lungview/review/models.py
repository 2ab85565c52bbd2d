"""What a radiologist's reading is: plain dataclasses and the validation of every field.

Nothing here touches the database; :mod:`lungview.review.store` maps these to SQLite rows.
Validation lives here so that a bad value is refused *before* it is written or journaled,
with a typed error naming the field (the GUI shows it next to the control at fault).
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from lungview.errors import ReviewStoreError

#: CAM methods of the explain registry, in the order a study shows them by default.
#: Duplicated (not imported) because review may not import lungview.explain; any name of
#: the same shape is accepted so that a method added to the registry needs no change here.
METHODS: tuple[str, ...] = ("gradcam", "gradcam++", "xgradcam", "layercam", "scorecam",
                            "scorecam-fast", "smoothgrad-cam++")
FOCUS_VALUES: tuple[str, ...] = ("yes", "partial", "no")
AGREEMENT_VALUES: tuple[str, ...] = ("agree", "disagree")
#: false-positive focus flags (the paper's reading 2 and its mirror-image conclusion)
FP_FLAGS: tuple[str, ...] = ("normal_lung", "bone", "heart", "mirror")
REGION_KINDS: tuple[str, ...] = ("box", "polygon")

_METHOD_RE = re.compile(r"^[a-z0-9][a-z0-9+\-_]{0,63}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class ReadingValueError(ReviewStoreError, ValueError):
    """A value handed to the store is not one a reading can hold.

    Attributes
    ----------
    field : the reading field (or ``case_id``, ``region`` ...) at fault.
    reason : one human sentence saying why.
    """

    def __init__(self, field_name: str, reason: str) -> None:
        self.field = field_name
        self.reason = reason
        super().__init__(f"{field_name}: {reason}")


@dataclass(frozen=True)
class ReadingKey:
    """Identifies one reading: a case, a CAM method, a slice, a reviewer, a study.

    ``study`` is ``""`` for free (unblinded) reading, so that a blinded study never
    mistakes an earlier unblinded look at the same case for its own reading.
    """

    case_id: str
    method: str
    slice_index: int = 0
    reviewer: str = ""
    study: str = ""

    def __post_init__(self) -> None:
        check_case_id(self.case_id)
        check_method(self.method)
        # normalised to int: sqlite3 cannot bind numpy integers
        object.__setattr__(self, "slice_index", _check_index("slice_index", self.slice_index))
        for name in ("reviewer", "study"):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) > 200:
                raise ReadingValueError(name, "must be text of at most 200 characters")

    def as_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "method": self.method,
                "slice_index": self.slice_index, "reviewer": self.reviewer,
                "study": self.study}


@dataclass(frozen=True)
class Case:
    """A file or series under review. ``case_id`` is a SeriesInstanceUID or ``sha256:<hex>``."""

    case_id: str
    case_label: str
    source_path: str


@dataclass(frozen=True)
class Region:
    """A lesion the radiologist drew, in original-image pixels (row, col), on one slice.

    A box has two points, ``(row0, col0)`` and ``(row1, col1)`` with row0 <= row1 and
    col0 <= col1; a polygon has three or more vertices.
    """

    kind: str
    points: tuple[tuple[float, float], ...]
    slice_index: int = 0

    @classmethod
    def box(cls, row0: float, col0: float, row1: float, col1: float,
            slice_index: int = 0) -> "Region":
        """A box from its corners, in any order (normalised to top-left, bottom-right)."""
        r0, r1 = sorted((row0, row1))
        c0, c1 = sorted((col0, col1))
        return cls("box", ((r0, c0), (r1, c1)), slice_index)

    @classmethod
    def polygon(cls, vertices: Iterable[tuple[float, float]],
                slice_index: int = 0) -> "Region":
        return cls("polygon", tuple((float(r), float(c)) for r, c in vertices), slice_index)

    def __post_init__(self) -> None:
        if self.kind not in REGION_KINDS:
            raise ReadingValueError("region", f"kind must be one of {REGION_KINDS}, "
                                              f"not {self.kind!r}")
        object.__setattr__(self, "slice_index",
                           _check_index("region.slice_index", self.slice_index))
        try:
            pts = tuple((float(p[0]), float(p[1])) for p in self.points)
            if any(len(p) != 2 for p in self.points):
                raise ValueError
        except (TypeError, ValueError, IndexError):
            raise ReadingValueError("region", "points must be (row, col) pairs of numbers"
                                    ) from None
        if not all(math.isfinite(v) and v >= 0 for p in pts for v in p):
            raise ReadingValueError("region", "coordinates must be finite and not negative")
        if self.kind == "box":
            if len(pts) != 2 or pts[0][0] > pts[1][0] or pts[0][1] > pts[1][1]:
                raise ReadingValueError("region", "a box is (row0, col0), (row1, col1) with "
                                                  "row0 <= row1 and col0 <= col1")
        elif len(pts) < 3:
            raise ReadingValueError("region", "a polygon needs at least three vertices")
        object.__setattr__(self, "points", pts)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "slice_index": self.slice_index,
                "points": [list(p) for p in self.points]}


@dataclass(frozen=True)
class Reading:
    """Everything stored for one :class:`ReadingKey` (see :data:`FIELDS` for the editable ones).

    ``missed_lesions`` is free text and ``missed_count`` an optional count: the paper's
    reader wrote "missed the small metastases", which a count alone cannot say.
    ``pointing_hit`` / ``energy_share`` are the region-agreement metrics the GUI computed
    for this method against the regions on this slice. Timestamps are UTC ISO 8601;
    ``completed_at`` is set when the reader marks the reading done (this lifts blinding).
    """

    key: ReadingKey
    comment: str = ""
    focus: str | None = None
    missed_lesions: str = ""
    missed_count: int | None = None
    fp_flags: frozenset[str] = field(default_factory=frozenset)
    usefulness: int | None = None
    agreement: str | None = None
    pointing_hit: bool | None = None
    energy_share: float | None = None
    model_name: str | None = None
    model_version: str | None = None
    model_sha256: str | None = None
    target_class: str | None = None
    predicted_label: str | None = None
    predicted_prob: float | None = None
    created_at: str = ""
    updated_at: str = ""
    completed_at: str | None = None

    @property
    def completed(self) -> bool:
        return self.completed_at is not None


def check_case_id(case_id: Any) -> str:
    """Accept a DICOM UID (digits and dots) or ``sha256:<64 hex>``; refuse anything else."""
    if isinstance(case_id, str):
        if case_id.startswith("sha256:") and _SHA256_RE.match(case_id[7:]):
            return case_id
        if 0 < len(case_id) <= 64 and re.fullmatch(r"[0-9]+(\.[0-9]+)*", case_id):
            return case_id
    raise ReadingValueError("case_id", f"{case_id!r} is neither a DICOM UID nor "
                                       "'sha256:' followed by 64 hex digits")


def check_method(method: Any) -> str:
    if isinstance(method, str) and _METHOD_RE.match(method):
        return method
    raise ReadingValueError("method", f"{method!r} is not a CAM method name "
                                      f"(such as {', '.join(METHODS[:3])})")


def _check_index(name: str, value: Any) -> int:
    if _is_bool(value) or not isinstance(value, numbers.Integral) or value < 0:
        raise ReadingValueError(name, f"must be a whole number >= 0, not {value!r}")
    return int(value)


def _text(name: str, limit: int) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ReadingValueError(name, f"must be text, not {type(value).__name__}")
        if len(value) > limit:
            raise ReadingValueError(name, f"is longer than {limit} characters")
        return value
    return check


def _optional(check: Any) -> Any:
    return lambda value: None if value is None else check(value)


def _choice(name: str, allowed: tuple[str, ...]) -> Any:
    def check(value: Any) -> str:
        if value not in allowed:
            raise ReadingValueError(name, f"must be one of {', '.join(allowed)} or unset, "
                                          f"not {value!r}")
        return value
    return check


def _is_bool(value: Any) -> bool:
    # numpy.bool_ is not a bool subclass; the GUI computes pointing hits with numpy
    kind = type(value)
    return isinstance(value, bool) or (kind.__module__ == "numpy"
                                       and kind.__name__ in ("bool", "bool_"))


def _int_range(name: str, lo: int, hi: int | None) -> Any:
    def check(value: Any) -> int:
        if _is_bool(value) or not isinstance(value, numbers.Integral) or value < lo or (
                hi is not None and value > hi):
            bounds = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            raise ReadingValueError(name, f"must be a whole number {bounds}, not {value!r}")
        return int(value)
    return check


def _fraction(name: str) -> Any:
    def check(value: Any) -> float:
        if _is_bool(value) or not isinstance(value, numbers.Real) or not (
                math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ReadingValueError(name, f"must be a number from 0 to 1, not {value!r}")
        return float(value)
    return check


def _boolean(name: str) -> Any:
    def check(value: Any) -> int:
        if not _is_bool(value):
            raise ReadingValueError(name, f"must be true or false, not {value!r}")
        return int(bool(value))
    return check


def _fp_flags(value: Any) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ReadingValueError("fp_flags", "must be a set of flag names")
    flags = frozenset(value)
    unknown = flags - set(FP_FLAGS)
    if unknown:
        raise ReadingValueError("fp_flags", f"unknown flag(s) {sorted(unknown)}; "
                                            f"known: {', '.join(FP_FLAGS)}")
    return flags


def _sha256(value: Any) -> str:
    if not isinstance(value, str) or not _SHA256_RE.match(value):
        raise ReadingValueError("model_sha256", "must be 64 lowercase hex digits")
    return value


#: editable field -> validator returning the value as stored (None always means "unset",
#: except for the text fields, where "" is the empty text).
FIELDS: dict[str, Any] = {
    "comment": _text("comment", 100_000),
    "focus": _optional(_choice("focus", FOCUS_VALUES)),
    "missed_lesions": _text("missed_lesions", 10_000),
    "missed_count": _optional(_int_range("missed_count", 0, 10_000)),
    "fp_flags": _fp_flags,
    "usefulness": _optional(_int_range("usefulness", 1, 5)),
    "agreement": _optional(_choice("agreement", AGREEMENT_VALUES)),
    "pointing_hit": _optional(_boolean("pointing_hit")),
    "energy_share": _optional(_fraction("energy_share")),
    "model_name": _optional(_text("model_name", 200)),
    "model_version": _optional(_text("model_version", 100)),
    "model_sha256": _optional(_sha256),
    "target_class": _optional(_text("target_class", 100)),
    "predicted_label": _optional(_text("predicted_label", 100)),
    "predicted_prob": _optional(_fraction("predicted_prob")),
    "completed": _boolean("completed"),
}


def validate_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Check each edited field and return the values as the store keeps them.

    Parameters
    ----------
    fields : field name -> new value (see :data:`FIELDS`).

    Returns
    -------
    dict
        The same names, values normalised (bool -> 0/1, flags -> frozenset).

    Raises
    ------
    ReadingValueError
        For an unknown field or a value the field cannot hold.
    """
    if not fields:
        raise ReadingValueError("fields", "nothing to save")
    out: dict[str, Any] = {}
    for name, value in fields.items():
        check = FIELDS.get(name)
        if check is None:
            raise ReadingValueError(name, f"is not a reading field; known: {', '.join(FIELDS)}")
        out[name] = check(value)
    return out
