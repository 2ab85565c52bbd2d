"""What the viewer shows as text: window presets, readouts, measurements, privacy masking.

Pure Python (no Qt) so the rules a radiologist relies on are tested without widgets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

APP_NAME = "lungview"
RESEARCH_NOTICE = "Research use only \u2014 not a medical device"
NON_DICOM_BADGE = "non-DICOM: no HU, no spacing"
HIDDEN = "(hidden)"


@dataclass(frozen=True)
class Preset:
    """A named window; ``centre``/``width`` of None means "use the window stored in the file"."""

    name: str
    centre: float | None
    width: float | None
    hu_only: bool

    @property
    def window(self) -> tuple[float, float] | None:
        if self.centre is None or self.width is None:
            return None
        return (self.centre, self.width)

    @property
    def label(self) -> str:
        if self.window is None:
            return self.name
        return f"{self.name} (W{self.width:g} L{self.centre:g})"


#: Presets in the order of the number keys 1-4. The HU ones are the usual chest CT windows.
PRESETS: tuple[Preset, ...] = (
    Preset("Lung", -600.0, 1500.0, hu_only=True),
    Preset("Mediastinum", 40.0, 350.0, hu_only=True),
    Preset("Bone", 400.0, 2000.0, hu_only=True),
    Preset("From file", None, None, hu_only=False),
)
LUNG, MEDIASTINUM, BONE, FROM_FILE = range(4)

#: DICOM keywords whose values identify a person or place; masked in presentation mode.
IDENTIFYING_KEYWORDS = frozenset({
    "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime", "InstitutionName",
    "InstitutionAddress", "InstitutionalDepartmentName", "OtherPatientIDs",
    "OtherPatientIDsSequence", "OtherPatientNames", "PatientBirthName", "PatientAddress",
    "PatientMotherBirthName", "PatientTelephoneNumbers", "ReferringPhysicianName",
    "PerformingPhysicianName", "OperatorsName", "NameOfPhysiciansReadingStudy",
    "RequestingPhysician", "AccessionNumber", "IssuerOfPatientID", "MedicalRecordLocator",
})


def format_window(window: tuple[float, float], from_file: bool = False) -> str:
    """``W 1500  L -600`` (with ``(from file)`` when the window came from the file)."""
    centre, width = window
    text = f"W {width:.0f}  L {centre:.0f}"
    return text + "  (from file)" if from_file else text


def drag_window(start: tuple[float, float], dx: float, dy: float) -> tuple[float, float]:
    """Window after a right-drag of ``dx``/``dy`` screen pixels from ``start`` (centre, width).

    Horizontal changes the width (right = wider), vertical the level (down = higher level,
    i.e. a darker image), as in most PACS viewers. The step scales with the starting width
    so a lung window and an 8-bit image both feel the same under the mouse.
    """
    centre, width = start
    step = max(width, 64.0) / 256.0
    return (centre + dy * step, max(1.0, width + dx * step))


def slice_text(index: int, count: int, position_mm: float | None,
               thickness_mm: float | None = None) -> str:
    """``slice 5/10 · z 232.0 mm · 8.0 mm thick`` (1-based, parts known only when present)."""
    parts = [f"slice {index + 1}/{count}"]
    if position_mm is not None and math.isfinite(position_mm):
        parts.append(f"z {position_mm:.1f} mm")
    if thickness_mm:
        parts.append(f"{thickness_mm:g} mm thick")
    return " \u00b7 ".join(parts)


def readout_text(col: int, row: int, value: float, hu: bool) -> str:
    """Cursor readout: ``x 120, y 88: HU -734`` or ``x 120, y 88: pixel value 87``."""
    if hu:
        return f"x {col}, y {row}: HU {value:.0f}"
    shown = f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
    return f"x {col}, y {row}: pixel value {shown}"


def measure_length(p0: tuple[float, float], p1: tuple[float, float],
                   spacing: tuple[float, float] | None) -> tuple[float, str]:
    """Length of the line ``p0``-``p1`` (image x=column, y=row) as (value, unit).

    ``spacing`` is DICOM PixelSpacing order: (row spacing, column spacing) in mm, so the
    column step (x) uses ``spacing[1]`` and the row step (y) ``spacing[0]``.
    """
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    if spacing is None:
        return math.hypot(dx, dy), "px"
    row_mm, col_mm = spacing
    return math.hypot(dx * col_mm, dy * row_mm), "mm"


def length_text(p0: tuple[float, float], p1: tuple[float, float],
                spacing: tuple[float, float] | None) -> str:
    """``64.6 mm``, or ``100.0 px (no spacing)`` when the pixel size is unknown."""
    value, unit = measure_length(p0, p1, spacing)
    return f"{value:.1f} mm" if unit == "mm" else f"{value:.1f} px (no spacing)"


def badge_text(kind: str, hu: bool, spacing: tuple[float, float] | None) -> str:
    """The warning badge for data without HU or spacing; empty when both are known."""
    if kind == "image":
        return NON_DICOM_BADGE
    missing = [what for what, ok in (("no HU", hu), ("no spacing", spacing is not None))
               if not ok]
    return ", ".join(missing)


def window_title(case_name: str | None, presentation: bool, case_number: int) -> str:
    """``lungview — <case>``; a neutral ``lungview — case N`` in presentation mode."""
    if case_number <= 0:
        return APP_NAME
    if presentation or not case_name:
        return f"{APP_NAME} \u2014 case {case_number}"
    return f"{APP_NAME} \u2014 {case_name}"


def identifying_values(patient: Mapping[str, object] | None) -> list[str]:
    """Non-trivial identifier strings of a case, to mask wherever they appear verbatim."""
    values = []
    for value in (patient or {}).values():
        text = str(value or "").strip()
        if len(text) >= 3:  # masking "M" or "00" everywhere would blank half the tags
            values.append(text)
    return values


def mask_value(keyword: str, value: str, secrets: Iterable[str]) -> str:
    """The value as shown in presentation mode: identifiers replaced by ``(hidden)``."""
    base = keyword.rsplit(".", 1)[-1].rsplit(">", 1)[-1].strip()
    if base in IDENTIFYING_KEYWORDS:
        return HIDDEN
    if any(secret and secret in value for secret in secrets):
        return HIDDEN
    return value


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every identifier string replaced by ``(hidden)``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, HIDDEN)
    return text
