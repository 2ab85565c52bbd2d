"""``lungview train --data DIR --out DIR [...]``: see lungview.model.train for the recipe."""

from __future__ import annotations

import argparse
from dataclasses import fields

from lungview.errors import LungviewError
from lungview.model.dataset import PROTOCOLS


def add_parser(sub: argparse._SubParsersAction) -> None:
    from lungview.model.train import TrainConfig

    p = sub.add_parser("train", help="train the classifier (resumable)")
    p.add_argument("--data", required=True, help="folder like IQ-OTH/NCCD (class folders, "
                   "manifest.csv used when present)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, logs, model)")
    p.add_argument("--protocol", choices=PROTOCOLS, default="patient",
                   help="which split's training part to use (default: by patient run)")
    p.add_argument("--resume", action="store_true", help="continue a stopped run in --out")
    p.add_argument("--weights", default=None,
                   help="backbone weights: a file path or 'imagenet' (default: none, offline)")
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    for name in ("seed", "size1", "epochs1", "size2", "epochs2", "batch", "limit", "warmup"):
        p.add_argument(f"--{name}", type=int, default=defaults[name])
    for name in ("lr1", "lr2", "bn_momentum"):
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=float,
                       default=defaults[name])


def run(args: argparse.Namespace) -> int:
    from lungview.model.train import TrainConfig, train

    cfg = TrainConfig(data=args.data, out=args.out, protocol=args.protocol, seed=args.seed,
                      size1=args.size1, epochs1=args.epochs1, lr1=args.lr1,
                      size2=args.size2, epochs2=args.epochs2, lr2=args.lr2,
                      batch=args.batch, warmup=args.warmup, bn_momentum=args.bn_momentum,
                      weights=args.weights, limit=args.limit)
    try:
        train(cfg, resume=args.resume)
    except LungviewError as exc:
        import sys

        sys.stderr.write(f"lungview: error: {exc}\n")
        return 1
    return 0
