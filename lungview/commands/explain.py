"""``lungview explain PATH... --method NAME|all [--target CLASS] [--out DIR] [--json]``.

For each input image, DICOM file or series slice and each method, writes the class
activation map as ``.npy`` (float32 in [0, 1], the original slice's pixel geometry) and a
blended overlay ``.png`` (colour bar, method, class, probability and a research-use notice
burned in) under ``--out``. With ``--json``, one object per map per line: ``path``,
``slice`` (null for a single image), ``file``, ``method``, ``target`` (the explained
class), ``label`` (the predicted class), ``probability`` (of the explained class),
``seconds`` (compute time of this map alone: no start-up, no model load), ``heatmap`` and
``overlay`` (written files), ``peak`` ([row, col] in original pixels, null for a flat map)
and ``flat``. Errors follow the ``lungview info`` contract (lungview/commands/_common.py).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Iterator

from lungview.commands._common import EXIT_USAGE, Reporter, guarded, iter_unique

DEFAULT_OUT = "lungview-explain"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="class activation maps for images, DICOM files and "
                       "series (npy + overlay png)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--method", action="append", default=None, metavar="NAME",
                   help="gradcam, gradcam++, xgradcam, layercam, scorecam, scorecam-fast, "
                   "smoothgrad-cam++ or all (repeatable, or comma-separated; default "
                   "gradcam)")
    p.add_argument("--target", default=None, metavar="CLASS",
                   help="class to explain, by name or index (default: the predicted class)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"output folder (default: ./{DEFAULT_OUT})")
    p.add_argument("--json", action="store_true", help="one JSON object per map per line")
    p.add_argument("--model", default=None, help="model file (default: the bundled one); "
                   "its card must sit beside it as .json")
    p.add_argument("--top-n", type=int, default=10, metavar="N",
                   help="channels kept by scorecam-fast (default 10)")


def _human(obj: dict[str, Any]) -> str:
    where = obj["path"] if obj["slice"] is None else f"{obj['path']} [{obj['slice']}]"
    what = "flat map (no evidence)" if obj["flat"] else f"peak {obj['peak']}"
    return (f"{where}: {obj['method']} for {obj['target']} (p={obj['probability']:.3f}), "
            f"{what}, {obj['seconds'] * 1000:.0f} ms -> {obj['overlay']}")


def _safe(text: str) -> str:
    text = text.replace("+", "p")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "image"


class _Names:
    """Unique output stems: two inputs with the same file name do not overwrite."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.used: set[str] = set()

    def stem(self, path: Path, slice_index: int | None) -> str:
        base = _safe(path.stem if path.suffix else path.name)
        if slice_index is not None:
            base = f"{base}_s{slice_index:04d}"
        stem, n = base, 2
        while stem in self.used:
            stem, n = f"{base}-{n}", n + 1
        self.used.add(stem)
        return stem


def explain_path(engine, path: str, methods: list[str], target, out: Path, names: _Names,
                 reporter: Reporter) -> Iterator[dict[str, Any]]:
    """Maps for every slice under ``path``; files skipped inside a folder are reported as
    errors while the rest is still explained."""
    import numpy as np

    from lungview.explain.overlay import render_overlay, write_png
    from lungview.io import load
    from lungview.model.inputs import model_gray

    result = load(path)
    for err in result.skipped:
        reporter.error(err.path, err.reason)
    for series in result.series:
        single = len(series) == 1 and series.kind != "dicom-series"
        for i in range(len(series)):
            gray = model_gray(series, i)
            file = Path(series.slice_path(i))
            maps = engine.explain(gray, methods, target)
            stem = names.stem(file, None if single else i)
            for name, cam in maps.items():
                npy = out / f"{stem}_{_safe(name)}.npy"
                png = out / f"{stem}_{_safe(name)}.png"
                try:
                    np.save(npy, np.asarray(cam.heatmap, dtype=np.float32))
                except OSError as exc:
                    from lungview.errors import ExplainError

                    raise ExplainError(f"cannot write {npy} ({exc.strerror or exc})") from None
                write_png(png, render_overlay(gray, cam.heatmap, method=name,
                                              label=cam.target_label,
                                              probability=cam.probability, flat=cam.flat))
                yield {"path": path, "slice": None if single else i, "file": str(file),
                       "method": name, "target": cam.target_label,
                       "label": cam.predicted_label, "probability": round(cam.probability, 6),
                       "seconds": round(cam.seconds, 6), "heatmap": str(npy),
                       "overlay": str(png),
                       "peak": list(cam.peak) if cam.peak is not None else None,
                       "flat": cam.flat}


def _usage_error(message: str) -> int:
    sys.stderr.write(f"lungview: error: {message}\n")
    return EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    from lungview.errors import ExplainError, ModelError
    from lungview.explain.engine import parse_methods
    from lungview.explain.result import resolve_target

    requested = [m for arg in (args.method or ["gradcam"]) for m in arg.split(",") if m.strip()]
    try:
        methods = parse_methods(requested)
    except ExplainError as exc:
        return _usage_error(str(exc))
    if args.top_n < 1:
        return _usage_error(f"--top-n must be at least 1, got {args.top_n}")
    reporter = Reporter(args.json, _human)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reporter.error(str(out), f"cannot create the output folder ({exc.strerror or exc})")
        return 1

    from lungview.explain.engine import CamEngine
    from lungview.model.classifier import Classifier

    try:
        classifier = Classifier.load(args.model)
    except ModelError as exc:
        reporter.error(args.model or "model", str(exc))
        return 1
    try:
        target = None if args.target is None else resolve_target(args.target,
                                                                 classifier.labels)
        engine = CamEngine.from_classifier(classifier, top_n=args.top_n)
    except ExplainError as exc:
        return _usage_error(str(exc))
    engine.warm_up(methods)
    names = _Names(out)
    for path in iter_unique(args.paths):
        guarded(reporter, path,
                lambda p=path: explain_path(engine, p, methods, target, out, names, reporter))
    return reporter.exit_code()
