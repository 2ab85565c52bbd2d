"""Scoring every CAM method on labelled slices: the quantitative version of the paper's
radiologist reading, shared by ``lungview evaluate-cams`` and ``benchmarks/bench_cams.py``.

Two sample sets:

- the 18 slices of TCIA Lung-PET-CT-Dx A0002 that carry a radiologist's tumour box
  (``annotations/<SOPInstanceUID>.xml``, Pascal VOC ``xmin/ymin/xmax/ymax`` in pixel
  columns/rows); the map explains class ``malignant`` (the boxes are tumours), so the
  pointing game and energy measure whether the malignant evidence sits on the tumour;
- a stratified subset of the IQ-OTH/NCCD validation part of the patient-run split (the
  callbacks' validation slices, never trained on; the model card's seed 0); the map
  explains the predicted class (no boxes: faithfulness only).

Every map is computed alone (``key=None``, one method per call), so its time is its own.
Definitions of the numbers: :mod:`lungview.explain.metrics`.
"""

from __future__ import annotations

import statistics
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from lungview.errors import ExplainError, LoadError
from lungview.explain import metrics as K
from lungview.imaging.preprocess import to_model_input


@dataclass
class Sample:
    """One slice to explain: ``gray`` 0-255 (original geometry), the class to explain
    (None: predicted) and ground-truth regions in original pixels (may be empty)."""

    name: str
    gray: np.ndarray
    target: str | int | None = None
    regions: list = field(default_factory=list)


def read_voc_boxes(path: Path) -> list[K.Box]:
    """Boxes of a Pascal VOC annotation file (raises LoadError when unreadable)."""
    try:
        root = ET.parse(path).getroot()
        boxes = []
        for obj in root.iter("bndbox"):
            vals = [float(obj.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
            boxes.append(K.Box.from_voc(*vals))
    except (OSError, ET.ParseError, TypeError, ValueError) as exc:
        raise LoadError(path, f"not a readable Pascal VOC annotation ({exc})") from None
    return boxes


def a0002_samples(root: Path, target: str | int | None = "malignant") -> list[Sample]:
    """The boxed slices under ``root`` (every DICOM series of the folder, matched to
    ``root/annotations`` by SOPInstanceUID). Raises LoadError when none is found."""
    from lungview.io import load
    from lungview.model.inputs import model_gray

    root = Path(root)
    ann = {p.stem: p for p in sorted((root / "annotations").glob("*.xml"))}
    if not ann:
        raise LoadError(root, "no annotations/*.xml boxes found")
    out: list[Sample] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "annotations"):
        for series in load(folder).series:
            for i in range(len(series)):
                uid = series.sop_uid(i)
                if uid in ann:
                    out.append(Sample(f"{folder.name}/{Path(series.slice_path(i)).name}",
                                      model_gray(series, i), target,
                                      list(read_voc_boxes(ann[uid]))))
    if not out:
        raise LoadError(root, "no slice matches an annotation's SOPInstanceUID")
    return out


def iq_validation_samples(root: Path, limit: int = 30, seed: int = 0,
                          subset: str = "val") -> list[Sample]:
    """Up to ``limit`` slices of the IQ-OTH/NCCD ``subset`` ("val" or "test") of the
    patient-run split with ``seed``, taken round-robin over the classes (stratified)."""
    from lungview.model.dataset import make_split, read_gray, read_pool

    pool = read_pool(root)
    split = make_split(pool, "patient", seed=seed)
    if subset not in ("val", "test"):
        raise ExplainError(f"subset must be val or test, got {subset!r}")
    idx = getattr(split, subset)
    by_class = [list(idx[pool.labels[idx] == c]) for c in np.unique(pool.labels[idx])]
    chosen: list[int] = []
    while len(chosen) < limit and any(by_class):
        for lst in by_class:
            if lst and len(chosen) < limit:
                chosen.append(int(lst.pop(0)))
    return [Sample(pool.paths[i], read_gray(pool.root / pool.paths[i])) for i in chosen]


@dataclass
class Row:
    """One (sample, method) measurement."""

    sample: str
    method: str
    target: str
    probability: float
    seconds: float
    flat: bool
    explained: float
    deletion: float
    insertion: float
    pointing: bool | None
    energy: float | None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def evaluate(engine, samples: Sequence[Sample], methods: Iterable[str], steps: int =
             K.DEFAULT_STEPS, on_row: Callable[[Row], None] | None = None) -> list[Row]:
    """Every method on every sample; ``on_row`` is called after each measurement."""
    from lungview.explain.engine import parse_methods

    names = parse_methods(list(methods))
    rows: list[Row] = []
    for s in samples:
        x, _ = to_model_input(s.gray, engine.input_size)
        for name in names:
            cam = engine.explain(s.gray, name, s.target)[name]
            t = cam.target_index
            _, explained = K.confidence_change(engine.predict, x, cam.model_map, t)
            dele = K.deletion_curve(engine.predict, x, cam.model_map, t, steps=steps)
            ins = K.insertion_curve(engine.predict, x, cam.model_map, t, steps=steps)
            if s.regions:
                hits = [K.pointing_game(cam.heatmap, r) for r in s.regions]
                pointing = any(hits)
                energy = sum(K.energy_in_region(cam.heatmap, r) for r in s.regions)
                energy = min(1.0, energy)
            else:
                pointing = energy = None
            row = Row(s.name, name, cam.target_label, cam.probability, cam.seconds, cam.flat,
                      explained, dele.auc, ins.auc, pointing, energy)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows


def summarise(rows: Sequence[Row]) -> list[dict]:
    """Per-method aggregates, in the order methods first appear."""
    order: list[str] = []
    for r in rows:
        if r.method not in order:
            order.append(r.method)
    out = []
    for m in order:
        rs = [r for r in rows if r.method == m]
        y = [r.probability for r in rs]
        o = [r.explained for r in rs]
        boxed = [r for r in rs if r.pointing is not None]
        out.append({
            "method": m, "n": len(rs), "flat": sum(r.flat for r in rs),
            "seconds_median": statistics.median(r.seconds for r in rs),
            "average_drop_pct": K.average_drop(y, o),
            "increase_in_confidence_pct": K.increase_in_confidence(y, o),
            "deletion_auc": float(np.mean([r.deletion for r in rs])),
            "insertion_auc": float(np.mean([r.insertion for r in rs])),
            "pointing_game_pct": (100.0 * np.mean([r.pointing for r in boxed])
                                  if boxed else None),
            "energy_pct": (100.0 * float(np.mean([r.energy for r in boxed]))
                           if boxed else None),
        })
    return out


def markdown_table(summary: Sequence[dict]) -> str:
    """The per-method table (AD, deletion: lower is better; the rest: higher)."""
    head = ("| method | n | time (s, median) | AD % ↓ | IC % ↑ | deletion AUC ↓ | "
            "insertion AUC ↑ | pointing game % ↑ | energy % ↑ |")
    lines = [head, "|" + "---|" * 9]

    def f(v, fmt):
        return "–" if v is None else format(v, fmt)

    for s in summary:
        flat = f" ({s['flat']} flat)" if s["flat"] else ""
        lines.append(f"| {s['method']} | {s['n']}{flat} | {s['seconds_median']:.3f} | "
                     f"{s['average_drop_pct']:.1f} | {s['increase_in_confidence_pct']:.1f} | "
                     f"{s['deletion_auc']:.3f} | {s['insertion_auc']:.3f} | "
                     f"{f(s['pointing_game_pct'], '.1f')} | {f(s['energy_pct'], '.1f')} |")
    return "\n".join(lines)

