"""CAM speed: lungview's engine vs tf-keras-vis 0.8.7 on the same model and image.

Medians after warm-up, measured in the same run, ratio column = tf-keras-vis / lungview.
Full Score-CAM runs in a child process so its peak RSS (ru_maxrss: model, TensorFlow and
the batches together) is its own.

    .venv/bin/python benchmarks/bench_cams.py                      # bundled model
    .venv/bin/python benchmarks/bench_cams.py --model PATH.keras
    .venv/bin/python benchmarks/bench_cams.py --random-effnet      # untrained B0 at 512:
                                                                   # same cost, any time
    .venv/bin/python benchmarks/bench_cams.py --tiny               # seconds, for smoke runs

Options: --image FILE (default: IQ-OTH/NCCD "Malignant case (1).jpg" from ../shared, else
a synthetic slice), --repeat N (5), --no-full (skip full Score-CAM), --json FILE.
tf-keras-vis' own full Score-CAM is not run (over 18 GB at 512, FIELD-NOTES).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LUNGVIEW_SHARED", ROOT.parent / "shared"))
DEFAULT_IMAGE = SHARED / "data" / "iq-othnccd" / "Malignant cases" / "Malignant case (1).jpg"
TKV = {"gradcam": ("gradcam", "Gradcam", {}),
       "gradcam++": ("gradcam_plus_plus", "GradcamPlusPlus", {}),
       "layercam": ("layercam", "Layercam", {}),
       "scorecam-fast": ("scorecam", "Scorecam", {"max_N": 10})}


def median_time(fn, repeat: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def build_model(args):
    """(keras model, labels, description)."""
    from lungview.model import architecture as A

    if args.tiny:
        return A.build_tiny_classifier(size=args.size), A.LABELS, f"tiny model at {args.size}"
    if args.random_effnet:
        return (A.build_efficientnet_b0(size=args.size), A.LABELS,
                f"EfficientNetB0, untrained weights, at {args.size}")
    from lungview.model.classifier import Classifier

    clf = Classifier.load(args.model)
    return (clf.keras_model, clf.labels,
            f"{clf.name} {clf.version} (sha256 {clf.sha256[:12]}) at {clf.input_size}")


def load_gray(args, size):
    import numpy as np

    if args.image or DEFAULT_IMAGE.is_file():
        from lungview.model.dataset import read_gray

        path = Path(args.image) if args.image else DEFAULT_IMAGE
        return read_gray(path), str(path)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:512, :512]
    img = 120 + 80 * np.sin(yy / 40.0) * np.cos(xx / 30.0) + rng.normal(0, 10, (512, 512))
    return np.clip(img, 0, 255).astype(np.float32), "synthetic 512x512"


def full_scorecam_child(args) -> None:
    """Child process: one full Score-CAM (after tracing), prints seconds and peak RSS."""
    from lungview.explain import CamEngine

    model, labels, _ = build_model(args)
    gray, _ = load_gray(args, model.input_shape[1])
    n = args.full_sample
    engine = CamEngine(model, labels=labels, top_n=n or 1)
    method = "scorecam-fast" if n else "scorecam"
    engine.warm_up(method)
    t0 = time.perf_counter()
    res = engine.explain(gray, method)[method]
    seconds = time.perf_counter() - t0
    if n:  # same batches, same peak memory; time scaled to every channel
        channels = int(engine._features.outputs[0].shape[-1])
        seconds *= channels / n
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    print(json.dumps({"seconds": seconds, "peak_rss_mb": rss_mb, "flat": res.flat,
                      "batch": engine.score_batch}))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None)
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--random-effnet", action="store_true")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--image", default=None)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--no-full", action="store_true")
    p.add_argument("--json", default=None)
    p.add_argument("--full-sample", type=int, default=None, metavar="N",
                   help="time full Score-CAM on N channels only and scale to all (same "
                   "batch size, so the same peak memory); default: every channel")
    p.add_argument("--child-full-scorecam", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.tiny and args.size == 512:
        args.size = 64
    if args.child_full_scorecam:
        full_scorecam_child(args)
        return 0

    import importlib

    import tensorflow as tf

    from lungview.explain import CamEngine
    from lungview.imaging.preprocess import to_model_input

    model, labels, desc = build_model(args)
    gray, image = load_gray(args, model.input_shape[1])
    engine = CamEngine(model, labels=labels, cache_size=0)
    size = engine.input_size
    x, _ = to_model_input(gray, size)
    engine.warm_up("all")
    index = engine.explain(gray, "gradcam")["gradcam"].target_index
    rows = []

    def ours(methods):
        return median_time(lambda: engine.explain(gray, methods, index), args.repeat)

    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    score = CategoricalScore([index])
    tkv_objs = {}
    for name, (module, cls, extra) in TKV.items():
        klass = getattr(importlib.import_module(f"tf_keras_vis.{module}"), cls)
        tkv_objs[name] = (klass(model, model_modifier=ReplaceToLinear(), clone=True), extra)

    def tkv(name):
        vis, extra = tkv_objs[name]
        kw = dict(penultimate_layer="top_conv", seek_penultimate_conv_layer=False, **extra)
        if "max_N" in extra:
            kw["batch_size"] = 16
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return median_time(lambda: vis(score, x[None], **kw), args.repeat)

    for name in ("gradcam", "gradcam++", "xgradcam", "layercam", "scorecam-fast",
                 "smoothgrad-cam++"):
        t_ours = ours(name)
        t_tkv = tkv(name) if name in TKV else None
        rows.append({"method": name, "lungview_s": t_ours, "tf_keras_vis_s": t_tkv,
                     "ratio": (t_tkv / t_ours) if t_tkv else None})
        print(f"{name}: {t_ours:.4f} s" + (f" vs {t_tkv:.4f} s" if t_tkv else ""),
              file=sys.stderr)
    together = ours(["gradcam", "gradcam++", "xgradcam", "layercam"])
    rows.append({"method": "4 gradient methods together", "lungview_s": together,
                 "tf_keras_vis_s": None, "ratio": None})
    full = None
    if not args.no_full:
        child = [sys.executable, __file__, "--child-full-scorecam", "--size", str(args.size)]
        for flag, val in (("--model", args.model), ("--image", args.image)):
            if val:
                child += [flag, val]
        child += ["--full-sample", str(args.full_sample)] if args.full_sample else []
        child += ["--tiny"] if args.tiny else []
        child += ["--random-effnet"] if args.random_effnet else []
        out = subprocess.run(child, capture_output=True, text=True, check=False)
        if out.returncode == 0:
            full = json.loads(out.stdout.strip().splitlines()[-1])
            how = (f"scaled from {args.full_sample} channels" if args.full_sample
                   else "every channel")
            rows.append({"method": f"scorecam (full, {how}, child process)",
                         "lungview_s": full["seconds"], "tf_keras_vis_s": None,
                         "ratio": None, "peak_rss_mb": full["peak_rss_mb"],
                         "batch": full["batch"]})
        else:
            print(out.stderr[-2000:], file=sys.stderr)

    cmd = "python benchmarks/bench_cams.py " + " ".join(sys.argv[1:] if argv is None
                                                         else argv)
    lines = [f"Model: {desc}; image: {image}; {size}x{size} input; "
             f"{os.cpu_count()} CPU(s), {platform.processor() or platform.machine()}, "
             f"TF {tf.__version__}; medians of {args.repeat} after 1 warm-up.",
             f"Command: `{cmd.strip()}`", "",
             "| method | lungview (s) | tf-keras-vis (s) | speed-up |",
             "|---|---|---|---|"]
    for r in rows:
        tk = "–" if r["tf_keras_vis_s"] is None else f"{r['tf_keras_vis_s']:.3f}"
        ratio = "–" if r["ratio"] is None else f"{r['ratio']:.1f}x"
        extra = (f" (peak RSS {r['peak_rss_mb']:.0f} MB, batches of {r['batch']})"
                 if "peak_rss_mb" in r else "")
        lines.append(f"| {r['method']}{extra} | {r['lungview_s']:.3f} | {tk} | {ratio} |")
    text = "\n".join(lines)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"model": desc, "image": image, "rows": rows,
                                               "command": cmd}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
