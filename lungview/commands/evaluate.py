"""``lungview evaluate --data DIR --protocol patient|random [--model PATH]``.

Recomputes the model card's metrics on the test part of a split. The split is a pure
function of the data folder, the protocol and the seed, so the card's numbers can be
reproduced by anyone with the same data.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lungview.model.dataset import PROTOCOLS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="measure a model on a split's test part")
    p.add_argument("--data", required=True, help="folder like IQ-OTH/NCCD")
    p.add_argument("--protocol", choices=PROTOCOLS, default="patient")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default=None, help="model file (default: bundled)")
    p.add_argument("--plots", default=None, help="folder for confusion/reliability PNGs")
    p.add_argument("--json", action="store_true", help="print the full metrics as JSON")


def summary_line(m: dict) -> str:
    b = m["binary_malignant_vs_not"]
    auc = m["roc_auc_ovr_macro"]
    return (f"{m['protocol']} split (n={m['n']}): 3-class accuracy {m['accuracy']:.4f}, "
            f"macro-F1 {m['macro_f1']:.4f}, ROC-AUC {auc if auc is None else round(auc, 4)}, "
            f"malignant-vs-not accuracy {b['accuracy']:.4f}, ECE {m['ece']:.4f}")


def run(args: argparse.Namespace) -> int:
    from lungview.errors import LungviewError
    from lungview.model.classifier import Classifier
    from lungview.model.evaluate import evaluate, save_plots

    try:
        clf = Classifier.load(args.model)
        metrics = evaluate(clf, args.data, args.protocol, args.seed)
    except LungviewError as exc:
        sys.stderr.write(f"lungview: error: {exc}\n")
        return 1
    metrics["model"] = clf.identity()
    if args.plots:
        save_plots(metrics, clf.labels, Path(args.plots))
    print(json.dumps(metrics, indent=2) if args.json else summary_line(metrics))
    return 0
