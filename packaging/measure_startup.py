"""Time the start of a lungview executable: launch -> window on screen -> first slice drawn.

Uses the start-up probes of ``lungview.ui.app`` (``LUNGVIEW_STARTUP_LOG`` and
``LUNGVIEW_EXIT_AFTER_FIRST_IMAGE``), so the app quits by itself after drawing the demo
case. Runs offscreen unless ``--platform`` says otherwise. The README's start-up numbers
come from this script::

    python packaging/measure_startup.py dist/lungview/lungview --runs 3
    python packaging/measure_startup.py .venv/bin/lungview --runs 3
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


def measure(executable: str, platform: str, timeout: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="lungview-startup-") as tmp:
        log = Path(tmp) / "startup.jsonl"
        env = dict(os.environ, LUNGVIEW_STARTUP_LOG=str(log),
                   LUNGVIEW_EXIT_AFTER_FIRST_IMAGE="1", QT_QPA_PLATFORM=platform,
                   XDG_CONFIG_HOME=str(Path(tmp) / "config"))
        t0 = time.time()
        done = subprocess.run([executable], env=env, capture_output=True, text=True,
                              timeout=timeout)
        t_exit = time.time()
        if done.returncode != 0:
            raise SystemExit(f"{executable} exited {done.returncode}: {done.stderr[-2000:]}")
        events = {}
        for line in log.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            events[item["event"]] = item["time"] - t0
        if "window_shown" not in events or "first_image" not in events:
            raise SystemExit(f"{executable}: missing start-up events {events}")
        return {"window_shown": events["window_shown"],
                "first_image": events["first_image"], "exit": t_exit - t0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("executable", help="the built app or the pip-installed lungview")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--platform", default="offscreen", help="QT_QPA_PLATFORM")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    runs = [measure(args.executable, args.platform, args.timeout) for _ in range(args.runs)]
    for i, run in enumerate(runs, 1):
        sys.stdout.write(f"run {i}: window {run['window_shown']:.2f} s, first slice "
                         f"{run['first_image']:.2f} s, exit {run['exit']:.2f} s\n")
    for key in ("window_shown", "first_image"):
        values = [run[key] for run in runs]
        sys.stdout.write(f"{key}: median {statistics.median(values):.2f} s "
                         f"(min {min(values):.2f}, max {max(values):.2f}, n={len(values)})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
