"""Readings as flat rows, a per-method summary, and their CSV / JSON forms.

One row per reading (case x study x reviewer x method x slice). ``regions`` is the list of
lesion regions the same reviewer drew on that slice of that case (a JSON list in CSV).

Summary, one row per method (registry order, then any other name alphabetically):
``readings``; ``focus_yes`` / ``focus_partial`` / ``focus_no`` / ``focus_unset``;
``usefulness_n`` and ``usefulness_mean`` over readings with a usefulness score;
``agree`` / ``disagree``; ``pointing_n`` and ``pointing_hit_rate`` (mean of the
pointing-game hits) and ``energy_n`` and ``energy_share_mean``, each over the readings
that have that metric *and* regions on their slice (a metric whose regions were since
deleted is stale and left out). A mean over no readings is empty (null in JSON).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable, TextIO

from lungview.review.models import FP_FLAGS, METHODS
from lungview.review.store import ReviewStore

READING_COLUMNS: tuple[str, ...] = (
    "case_id", "case_label", "source_path", "study", "reviewer", "method", "slice_index",
    "comment", "focus", "missed_lesions", "missed_count",
    *(f"fp_{flag}" for flag in FP_FLAGS),
    "usefulness", "agreement", "pointing_hit", "energy_share",
    "target_class", "predicted_label", "predicted_prob",
    "model_name", "model_version", "model_sha256",
    "created_at", "updated_at", "completed_at", "regions")

SUMMARY_COLUMNS: tuple[str, ...] = (
    "method", "readings", "focus_yes", "focus_partial", "focus_no", "focus_unset",
    "usefulness_n", "usefulness_mean", "agree", "disagree",
    "pointing_n", "pointing_hit_rate", "energy_n", "energy_share_mean")


def reading_rows(store: ReviewStore) -> list[dict[str, Any]]:
    """Every reading in the store as a flat dict keyed by :data:`READING_COLUMNS`."""
    cases = {c.case_id: c for c in store.cases()}
    regions: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for case_id, reviewer, region in store.regions():
        regions.setdefault((case_id, reviewer, region.slice_index), []).append(
            {"kind": region.kind, "points": [list(p) for p in region.points]})
    rows = []
    for r in store.readings():
        k = r.key
        case = cases[k.case_id]
        rows.append({
            "case_id": k.case_id, "case_label": case.case_label,
            "source_path": case.source_path, "study": k.study, "reviewer": k.reviewer,
            "method": k.method, "slice_index": k.slice_index, "comment": r.comment,
            "focus": r.focus, "missed_lesions": r.missed_lesions,
            "missed_count": r.missed_count,
            **{f"fp_{flag}": flag in r.fp_flags for flag in FP_FLAGS},
            "usefulness": r.usefulness, "agreement": r.agreement,
            "pointing_hit": r.pointing_hit, "energy_share": r.energy_share,
            "target_class": r.target_class, "predicted_label": r.predicted_label,
            "predicted_prob": r.predicted_prob, "model_name": r.model_name,
            "model_version": r.model_version, "model_sha256": r.model_sha256,
            "created_at": r.created_at, "updated_at": r.updated_at,
            "completed_at": r.completed_at,
            "regions": regions.get((k.case_id, k.reviewer, k.slice_index), []),
        })
    return rows


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarise(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-method summary of :func:`reading_rows` output (see the module docstring)."""
    by_method: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_method.setdefault(row["method"], []).append(row)
    order = [m for m in METHODS if m in by_method] + sorted(set(by_method) - set(METHODS))
    summary = []
    for method in order:
        group = by_method[method]
        useful = [r["usefulness"] for r in group if r["usefulness"] is not None]
        with_regions = [r for r in group if r["regions"]]
        hits = [float(r["pointing_hit"]) for r in with_regions if r["pointing_hit"] is not None]
        energy = [r["energy_share"] for r in with_regions if r["energy_share"] is not None]
        summary.append({
            "method": method, "readings": len(group),
            **{f"focus_{v}": sum(r["focus"] == v for r in group)
               for v in ("yes", "partial", "no")},
            "focus_unset": sum(r["focus"] is None for r in group),
            "usefulness_n": len(useful), "usefulness_mean": _mean(useful),
            "agree": sum(r["agreement"] == "agree" for r in group),
            "disagree": sum(r["agreement"] == "disagree" for r in group),
            "pointing_n": len(hits), "pointing_hit_rate": _mean(hits),
            "energy_n": len(energy), "energy_share_mean": _mean(energy),
        })
    return summary


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)  # str(float) is the shortest exact repr


def write_csv(rows: list[dict[str, Any]], columns: Iterable[str], out: TextIO) -> None:
    """A header and one line per row; None is empty, booleans 0/1, lists JSON text."""
    columns = list(columns)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row[c]) for c in columns])


def to_json(rows: list[dict[str, Any]], summary: list[dict[str, Any]]) -> str:
    """``{"readings": [...], "summary": [...]}``, indented, UTF-8 text kept as is."""
    return json.dumps({"readings": rows, "summary": summary}, indent=2, ensure_ascii=False)


def to_csv_text(rows: list[dict[str, Any]], columns: Iterable[str]) -> str:
    buf = io.StringIO()
    write_csv(rows, columns, buf)
    return buf.getvalue()
