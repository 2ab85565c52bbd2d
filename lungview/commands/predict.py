"""``lungview predict PATH... [--json] [--model PATH]``: the classifier's verdict per slice.

One JSON object per slice: ``path`` (the input as given), ``slice`` (index within a series
or multi-frame file, null for a single image), ``label``, ``probabilities``, ``model``
(name, version, sha256) and ``seconds`` (compute time of this prediction only). Errors
follow the ``lungview info`` contract. The model is loaded once for all inputs.
"""

from __future__ import annotations

import argparse
from typing import Any, Iterator

from lungview.commands._common import Reporter, guarded, iter_unique


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="classify images, DICOM files and series")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--model", default=None, help="model file (default: the bundled one); "
                   "its card must sit beside it as .json")


def _human(obj: dict[str, Any]) -> str:
    where = obj["path"] if obj["slice"] is None else f"{obj['path']} [{obj['slice']}]"
    probs = "  ".join(f"{k} {v:.3f}" for k, v in obj["probabilities"].items())
    return f"{where}: {obj['label']}  ({probs})"


def predict_path(classifier, path: str, reporter: Reporter) -> Iterator[dict[str, Any]]:
    """Results for every slice under ``path``; files skipped inside a folder are reported
    as errors while the rest is still predicted."""
    from lungview.io import load
    from lungview.model.inputs import model_gray

    result = load(path)
    for err in result.skipped:
        reporter.error(err.path, err.reason)
    for series in result.series:
        single = len(series) == 1 and series.kind != "dicom-series"
        for i in range(len(series)):
            pred = classifier.classify(model_gray(series, i))
            yield {"path": path, "slice": None if single else i,
                   "file": str(series.slice_path(i)), "label": pred.label,
                   "probabilities": pred.probabilities, "model": classifier.identity(),
                   "seconds": round(pred.seconds, 6)}


def run(args: argparse.Namespace) -> int:
    from lungview.errors import ModelError
    from lungview.model.classifier import Classifier

    reporter = Reporter(args.json, _human)
    try:
        classifier = Classifier.load(args.model)
        classifier.warm_up()
    except ModelError as exc:
        reporter.error(args.model or "model", str(exc))
        return 1
    for path in iter_unique(args.paths):
        guarded(reporter, path, lambda p=path: predict_path(classifier, p, reporter))
    return reporter.exit_code()
