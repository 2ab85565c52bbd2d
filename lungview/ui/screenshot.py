"""Take the documentation screenshots: open a case, set the view, capture the screen.

Run under Xvfb so the capture is the real window with its decorations-free frame::

    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python -m lungview.ui.screenshot \\
        ../shared/data/dicom/lung-pet-ct-dx-A0002/series-3-B40f \\
        --slice 17 --preset lung --out docs/viewer-lung-preset.png
    ... --method gradcam++ --out docs/overlay.png         # needs the bundled model
    ... --grid --out docs/cam-grid.png                     # all methods, grid window
    ... --study pilot --reader "dr. a" --out docs/reader-study.png   # PATH is the worklist

The capture uses ImageMagick's ``import -window root`` when available (what the screen
shows), else Qt's own grab of the window.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

PRESET_INDEX = {"lung": 0, "mediastinum": 1, "bone": 2, "file": 3}


def _wait(signal, timeout_ms: int) -> None:
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()


def _settle(ms: int = 400) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="lungview documentation screenshots")
    parser.add_argument("path")
    parser.add_argument("--out", required=True)
    parser.add_argument("--slice", type=int, default=None, help="1-based slice number")
    parser.add_argument("--preset", choices=list(PRESET_INDEX), default="lung")
    parser.add_argument("--method", default=None, help="show this CAM method (needs AI)")
    parser.add_argument("--target", default=None, help="explained class")
    parser.add_argument("--grid", action="store_true", help="capture the all-methods grid")
    parser.add_argument("--tags", action="store_true", help="show the tag browser")
    parser.add_argument("--presentation", action="store_true")
    parser.add_argument("--study", default=None, metavar="NAME",
                        help="start reader study NAME on the worklist PATH")
    parser.add_argument("--reader", default="reader", help="the study's reader")
    parser.add_argument("--size", default="1600x1000")
    args = parser.parse_args(argv)

    from lungview.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    ai = bool(args.method or args.grid or args.study)
    window = MainWindow(presentation=args.presentation, ai_enabled=ai)
    width, height = (int(v) for v in args.size.split("x"))
    window.setGeometry(0, 0, width, height)
    window.show()
    if args.study:
        if not window.start_study(args.study, args.path, args.reader):
            sys.stderr.write(f"study not started: {window.banners.messages()}\n")
            return 1
    else:
        window.open_path(args.path)
    _wait(window.caseLoaded, 60_000)
    if window.series is None:
        sys.stderr.write(f"could not open {args.path}: {window.banners.messages()}\n")
        return 1
    if args.slice is not None:
        window.set_slice(args.slice - 1)
    window.apply_preset(PRESET_INDEX[args.preset])
    window.tags_dock.setVisible(args.tags)
    if ai:
        if args.target:
            panel = window.ai_panel
            panel.target_combo.setCurrentIndex(panel.target_combo.findData(args.target))
        if args.method and not args.study:
            combo = window.ai_panel.method_combo
            combo.setCurrentIndex(combo.findData(args.method))
        while window.ai.state not in ("ready", "unavailable") or (
                window.ai.state == "ready" and window.current_cam() is None
                and window.ai_panel.heatmap_on()):
            _wait(window.ai.analysisReady, 600_000)
            if window.ai.state == "unavailable":
                break
        if args.grid and window.ai.state == "ready":
            window.show_grid()
            window._grid.setGeometry(0, 0, width, height)
            _wait(window.ai.gridDone, 1_800_000)
        # let the strip finish for the series view
        for _ in range(600):
            if window.ai.sweep_complete(window.series_key(), len(window.series)):
                break
            _settle(200)
    _settle(800)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which("import"):
        subprocess.run(["import", "-window", "root", str(out)], check=True)
    else:
        target = window._grid if args.grid and window._grid is not None else window
        target.grab().save(str(out))
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
