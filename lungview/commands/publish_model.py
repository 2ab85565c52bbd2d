"""``lungview publish-model --run DIR [--paper-run DIR] --data DIR``: bundle a trained run.

Copies the run's ``model.keras`` to ``resources/models/lungview-effnetb0.keras`` and writes
its card with every number recomputed (see lungview.model.publish). Maintainers run it after
``lungview train``; users never need it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    from lungview.model.card import RESOURCES

    p = sub.add_parser("publish-model", help="bundle a trained run with a measured card")
    p.add_argument("--run", required=True, type=Path, help="patient-split training run")
    p.add_argument("--paper-run", type=Path, default=None,
                   help="run of the same recipe on the paper's random split (measured only)")
    p.add_argument("--data", required=True, type=Path, help="folder like IQ-OTH/NCCD")
    p.add_argument("--a0002", type=Path, default=None,
                   help="Lung-PET-CT-Dx A0002 folder: per-slice predictions go in the card")
    p.add_argument("--out", type=Path, default=RESOURCES / "models")
    p.add_argument("--plots", type=Path, default=None, help="folder for the metric plots")
    p.add_argument("--version", dest="model_version", default="1.0.0")


def run(args: argparse.Namespace) -> int:
    from lungview.errors import LungviewError
    from lungview.model.publish import publish

    missing = [p for p in (args.run, args.paper_run) if p and not (p / "model.keras").is_file()]
    if missing:
        sys.stderr.write(f"lungview: error: {missing[0]}: no model.keras (training not "
                         "finished?)\n")
        return 1
    try:
        card = publish(args.run, args.paper_run, args.data, args.out, args.model_version,
                       args.plots, args.a0002)
    except LungviewError as exc:
        sys.stderr.write(f"lungview: error: {exc}\n")
        return 1
    print(f"model and card written: {card}")
    return 0
