"""``lungview evaluate-cams [--model PATH] [--method NAME|all] [--out DIR] [--json]``.

Runs every CAM method on the 18 radiologist-boxed slices of Lung-PET-CT-Dx A0002 and on
a validation subset of IQ-OTH/NCCD, and prints one table per data set: median time per
map, Average Drop, Increase in Confidence, deletion/insertion AUC, pointing game and
energy (definitions: lungview/explain/metrics.py, repeated under each table). With
``--out``, writes ``cam-evaluation.md`` and ``cam-evaluation.json`` (per-slice rows
included). With ``--json``, prints the JSON instead of the markdown.

Cost: each (slice, method) costs the map plus 2 x (steps + 1) + 2 forward passes; full
Score-CAM on EfficientNetB0 at 512 is the slow one (1,280 masked passes per slice), so
``--method`` can leave it out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from lungview.commands._common import EXIT_USAGE


def _shared_data() -> Path:
    root = Path(os.environ.get("LUNGVIEW_SHARED", "../shared"))
    return root / "data"


def add_parser(sub: argparse._SubParsersAction) -> None:
    data = _shared_data()
    p = sub.add_parser("evaluate-cams", help="faithfulness and localisation of every CAM "
                       "method on boxed CT slices and IQ-OTH/NCCD validation slices")
    p.add_argument("--model", default=None, help="model file (default: the bundled one)")
    p.add_argument("--method", action="append", default=None, metavar="NAME",
                   help="method(s) to evaluate, repeatable or comma-separated (default all)")
    p.add_argument("--a0002", default=str(data / "dicom" / "lung-pet-ct-dx-A0002"),
                   metavar="DIR", help="Lung-PET-CT-Dx A0002 folder with annotations/ "
                   "('' to skip)")
    p.add_argument("--iq", default=str(data / "iq-othnccd"), metavar="DIR",
                   help="IQ-OTH/NCCD folder with manifest.csv ('' to skip)")
    p.add_argument("--limit", type=int, default=30,
                   help="IQ-OTH/NCCD validation slices, stratified (default 30)")
    p.add_argument("--steps", type=int, default=20,
                   help="deletion/insertion steps (default 20)")
    p.add_argument("--top-n", type=int, default=10, help="scorecam-fast channels")
    p.add_argument("--out", default=None, metavar="DIR", help="write .md and .json here")
    p.add_argument("--json", action="store_true", help="print JSON instead of markdown")


def run(args: argparse.Namespace) -> int:
    from lungview.errors import LungviewError
    from lungview.explain import evaluation as E
    from lungview.explain import metrics as K
    from lungview.explain.engine import CamEngine, parse_methods
    from lungview.model.classifier import Classifier

    requested = [m for a in (args.method or ["all"]) for m in a.split(",") if m.strip()]
    try:
        methods = parse_methods(requested)
    except LungviewError as exc:
        sys.stderr.write(f"lungview: error: {exc}\n")
        return EXIT_USAGE
    if args.steps < 1 or args.limit < 0 or args.top_n < 1:
        sys.stderr.write("lungview: error: --steps and --top-n must be >= 1, --limit >= 0\n")
        return EXIT_USAGE
    try:
        clf = Classifier.load(args.model)
        engine = CamEngine.from_classifier(clf, top_n=args.top_n, cache_size=0)
        engine.warm_up(methods)
        sets = []
        if args.a0002:
            boxed = E.a0002_samples(Path(args.a0002))
            sets.append((f"Lung-PET-CT-Dx A0002, {len(boxed)} boxed slices, target "
                         "malignant", boxed))
        if args.iq and args.limit:
            iq = E.iq_validation_samples(Path(args.iq), args.limit)
            sets.append((f"IQ-OTH/NCCD patient-split validation, {len(iq)} slices, "
                         "target predicted class", iq))
    except LungviewError as exc:
        sys.stderr.write(f"lungview: error: {exc}\n")
        return 1
    if not sets:
        sys.stderr.write("lungview: error: no data set selected (--a0002 and --iq empty)\n")
        return EXIT_USAGE

    report = {"model": clf.identity(), "steps": args.steps, "top_n": args.top_n,
              "definitions": K.describe(args.steps), "sets": []}
    md = [f"Model {clf.name} {clf.version} (sha256 {clf.sha256[:12]}), "
          f"command: `lungview evaluate-cams {' '.join(sys.argv[2:])}`", ""]
    for title, samples in sets:
        total = len(samples) * len(methods)
        done = [0]

        def tick(row, total=total, done=done):
            done[0] += 1
            if not sys.stderr.isatty():
                return
            sys.stderr.write(f"\r{done[0]}/{total} {row.sample} {row.method}"[:100].ljust(100))
            sys.stderr.flush()

        try:
            rows = E.evaluate(engine, samples, methods, args.steps, on_row=tick)
        except LungviewError as exc:
            sys.stderr.write(f"\nlungview: error: {exc}\n")
            return 1
        if sys.stderr.isatty():
            sys.stderr.write("\n")
        summary = E.summarise(rows)
        report["sets"].append({"title": title, "summary": summary,
                               "rows": [r.to_dict() for r in rows]})
        md += [f"### {title}", "", E.markdown_table(summary), ""]
    md += [K.describe(args.steps), ""]
    text = "\n".join(md)
    if args.out:
        out = Path(args.out)
        try:
            out.mkdir(parents=True, exist_ok=True)
            (out / "cam-evaluation.md").write_text(text, encoding="utf-8")
            (out / "cam-evaluation.json").write_text(json.dumps(report, indent=1),
                                                    encoding="utf-8")
        except OSError as exc:
            sys.stderr.write(f"lungview: error: {out}: cannot write ({exc})\n")
            return 1
    sys.stdout.write(json.dumps(report) + "\n" if args.json else text)
    return 0
