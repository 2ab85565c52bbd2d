"""Time from launch to a visible lungview window, and from there to the demo case's first
image, against a bare PySide6 window started the same way (the floor any Qt app pays).

Each run is a fresh ``python`` process (offscreen Qt by default). lungview is started as
``python -m lungview`` with ``LUNGVIEW_STARTUP_LOG`` (events ``window_shown`` and
``first_image`` with wall-clock times and whether TensorFlow / pydicom were imported by
then) and ``LUNGVIEW_EXIT_AFTER_FIRST_IMAGE=1``. Launch time = event time minus the time
just before ``subprocess`` started the process, so interpreter start-up and imports count.

    .venv/bin/python benchmarks/bench_startup.py --repeats 7
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BASELINE = r"""
import json, sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv[:1])
w = QMainWindow(); w.setWindowTitle("baseline"); w.resize(1400, 900)
def shown():
    print(json.dumps({"event": "window_shown", "time": time.time()}), flush=True)
    app.quit()
w.show()
QTimer.singleShot(0, shown)
app.exec()
"""


def run_baseline(env: dict[str, str]) -> float:
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", BASELINE], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    event = json.loads(out.strip().splitlines()[-1])
    return event["time"] - t0


def run_lungview(env: dict[str, str], ai: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "startup.jsonl"
        run_env = dict(env, LUNGVIEW_STARTUP_LOG=str(log), LUNGVIEW_EXIT_AFTER_FIRST_IMAGE="1",
                       LUNGVIEW_AI="1" if ai else "0", XDG_CONFIG_HOME=tmp)
        t0 = time.time()
        done = subprocess.run([sys.executable, "-m", "lungview"], env=run_env, cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        t_exit = time.time()
        if done.returncode != 0:
            raise RuntimeError(f"lungview exited {done.returncode}: {done.stderr[-2000:]}")
        events = {e["event"]: e for e in map(json.loads, log.read_text().splitlines())}
    shown, first = events["window_shown"], events.get("first_image")
    return {"window_s": shown["time"] - t0,
            "first_image_s": (first["time"] - t0) if first else float("nan"),
            "open_to_image_s": (first["time"] - shown["time"]) if first else float("nan"),
            "tf_before_show": shown["tensorflow_loaded"],
            "pydicom_before_show": shown["pydicom_loaded"],
            "exit_s": t_exit - t0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--platform", default="offscreen", help="QT_QPA_PLATFORM")
    args = parser.parse_args(argv)
    env = dict(os.environ, QT_QPA_PLATFORM=args.platform, TF_CPP_MIN_LOG_LEVEL="2")

    rows = []
    base = [run_baseline(env) for _ in range(args.repeats)]
    base_med = statistics.median(base)
    rows.append(("bare PySide6 QMainWindow (baseline)", base_med, None, None, "-", "-"))
    for ai in (True, False):
        runs = [run_lungview(env, ai) for _ in range(args.repeats)]
        med = {k: statistics.median(r[k] for r in runs)
               for k in ("window_s", "first_image_s", "open_to_image_s")}
        tf = sum(r["tf_before_show"] for r in runs)
        dcm = sum(r["pydicom_before_show"] for r in runs)
        rows.append((f"lungview, demo case, AI {'on' if ai else 'off (LUNGVIEW_AI=0)'}",
                     med["window_s"], med["first_image_s"], med["open_to_image_s"],
                     f"{tf}/{len(runs)}", f"{dcm}/{len(runs)}"))

    print(f"median of {args.repeats} runs, each a fresh process, QT_QPA_PLATFORM="
          f"{args.platform}; ratio = window time / baseline window time\n")
    print("| start | launch to window s | ratio | launch to first image s | "
          "window to first image s | TF imported before show | pydicom before show |")
    print("|---|---|---|---|---|---|---|")
    for name, window, first, between, tf, dcm in rows:
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        print(f"| {name} | {window:.2f} | {window / base_med:.2f} | {fmt(first)} | "
              f"{fmt(between)} | {tf} | {dcm} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
