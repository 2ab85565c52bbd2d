"""Prediction latency per slice and peak memory: lungview's compiled path vs. an eager call.

Why: issue 3 asks that ``lungview predict`` handle hundreds of inputs with the model loaded
once and inference compiled, not an eager model call per image. This measures, on the same
model and the same slices in the same process:

- ``lungview``: :meth:`Classifier.classify` (the one preprocessing + one ``tf.function``
  graph, traced once at warm-up), what ``predict``, the GUI and the self-test call; its
  time includes the preprocessing, which the two baselines are handed done;
- ``eager-call`` (the named baseline): ``model(x, training=False)`` on the same
  preprocessed input, the pattern of most notebooks;
- ``model.predict``: Keras' own loop for one image, the other common pattern.

Medians over ``--repeat`` calls per slice after one warm-up call per method (so tracing is
excluded), and the process's peak RSS (``ru_maxrss``) after all of it. The ratio is
baseline / method: above 1 means faster than the eager call.

    .venv/bin/python benchmarks/bench_predict.py                # bundled model, demo slices
    .venv/bin/python benchmarks/bench_predict.py --model PATH.keras --repeat 20
    .venv/bin/python benchmarks/bench_predict.py --tiny         # smoke run, seconds
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BASELINE = "eager-call"


def _slices():
    """The demo case's IQ-OTH/NCCD JPEGs and A0002 DICOM slices, as 0-255 model grays."""
    from lungview.io import load
    from lungview.model.card import RESOURCES
    from lungview.model.dataset import read_gray
    from lungview.model.inputs import model_gray

    demo = RESOURCES / "demo"
    grays = [read_gray(p) for p in sorted((demo / "iq-othnccd").glob("*.jpg"))]
    series = load(demo / "lung-pet-ct-dx-A0002" / "series-3-B40f").series[0]
    grays += [model_gray(series, i) for i in range(len(series))]
    return grays


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model file (default: bundled)")
    parser.add_argument("--tiny", action="store_true", help="a tiny 512-px test model")
    parser.add_argument("--repeat", type=int, default=5, help="calls per slice and method")
    args = parser.parse_args(argv)

    import numpy as np

    from lungview.model.architecture import LABELS, build_tiny_classifier
    from lungview.model.classifier import Classifier

    if args.tiny:
        clf = Classifier.from_model(build_tiny_classifier(size=512), LABELS, name="tiny")
    else:
        clf = Classifier.load(args.model)
    model = clf.keras_model
    grays = _slices()
    inputs = [clf.prepare(g)[0][None].astype(np.float32) for g in grays]

    clf.warm_up()
    model(inputs[0], training=False)
    model.predict(inputs[0], verbose=0)
    methods = {
        "lungview": lambda g, x: clf.classify(g),
        BASELINE: lambda g, x: model(x, training=False).numpy(),
        "model.predict": lambda g, x: model.predict(x, verbose=0),
    }
    per_method = {name: [] for name in methods}
    for g, x in zip(grays, inputs):
        for name, fn in methods.items():
            per_method[name].append(_median_ms(lambda: fn(g, x), args.repeat))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    base = statistics.median(per_method[BASELINE])
    print(f"model {clf.name} {clf.version} at {clf.input_size} px; {len(grays)} slices "
          f"(demo case), median of {args.repeat} calls per slice after warm-up, then the "
          f"median over slices; ratio = {BASELINE} / method; peak RSS of the process "
          f"{rss:.0f} MiB\n")
    print("| method | ms per slice | ratio |")
    print("|---|---|---|")
    for name, values in per_method.items():
        ms = statistics.median(values)
        print(f"| {name} | {ms:.1f} | {base / ms:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
