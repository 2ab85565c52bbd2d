"""Start the GUI: window on screen first, then the case loads on a worker thread.

Startup probes (for ``benchmarks/bench_startup.py``):

- ``LUNGVIEW_STARTUP_LOG=FILE`` appends one JSON line per event (``window_shown``,
  ``first_image``, ``load_failed``) with the wall-clock time and whether TensorFlow was
  imported by then.
- ``LUNGVIEW_AI=0`` starts a plain viewer (no model, no TensorFlow).
- ``LUNGVIEW_EXIT_AFTER_FIRST_IMAGE=1`` quits as soon as the first slice is drawn (or the
  load failed), so a benchmark can time a real start without a person closing the window.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import QApplication

from lungview.ui.main_window import MainWindow
from lungview.ui.resources import DEMO_CASE
from lungview.ui.settings import APPLICATION, ORGANIZATION

__all__ = ["DEMO_CASE", "run_gui"]


class _StartupProbe(QObject):
    """Records startup events for the benchmark; optionally quits after the first image."""

    def __init__(self, app: QApplication, log_path: str | None, exit_after_image: bool) -> None:
        super().__init__(app)
        self._app = app
        self._log_path = log_path
        self._exit = exit_after_image
        self._seen: set[str] = set()

    def _record(self, event: str) -> None:
        if event in self._seen:
            return
        self._seen.add(event)
        if self._log_path:
            line = {"event": event, "time": time.time(),
                    "tensorflow_loaded": "tensorflow" in sys.modules,
                    "pydicom_loaded": "pydicom" in sys.modules}
            with open(self._log_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")

    @Slot()
    def on_first_shown(self) -> None:
        self._record("window_shown")

    @Slot(int)
    def on_image_shown(self, _index: int) -> None:
        self._record("first_image")
        if self._exit:
            QTimer.singleShot(0, self._app.quit)

    @Slot(str)
    def on_load_failed(self, _message: str) -> None:
        self._record("load_failed")
        if self._exit:
            QTimer.singleShot(0, self._app.quit)


def run_gui(path: str | None, presentation: bool = False) -> int:
    """Show the viewer on ``path`` (the demo case when None) and run the event loop.

    Parameters
    ----------
    path : str or None
        Image file, DICOM file or folder; None opens :data:`DEMO_CASE`.
    presentation : bool
        Hide patient identifiers (title, overlays, tag browser).

    Returns
    -------
    int
        The Qt event loop's exit status (0 on a normal quit).
    """
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("lungview")
    window = MainWindow(presentation=presentation,
                        ai_enabled=os.environ.get("LUNGVIEW_AI", "1") != "0")
    probe = _StartupProbe(app, os.environ.get("LUNGVIEW_STARTUP_LOG"),
                          os.environ.get("LUNGVIEW_EXIT_AFTER_FIRST_IMAGE") == "1")
    window.firstShown.connect(probe.on_first_shown)
    window.imageShown.connect(probe.on_image_shown)
    window.loadFailed.connect(probe.on_load_failed)
    window.show()
    window.open_later(Path(path).expanduser() if path else DEMO_CASE)
    status = app.exec()
    window.runner.shutdown()
    window.ai.shutdown()
    return int(status)
