"""Fixtures for the viewer tests: a real MainWindow, event helpers, a worker-leak check."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6.QtWidgets")
pytest.importorskip("pytestqt")

from lungview.ui import workers  # noqa: E402
from lungview.ui.resources import DEMO_CASE, DEMO_DIR  # noqa: E402


@pytest.fixture(autouse=True)
def no_worker_outlives_test():
    """Fail the test if a worker thread is still running once its widgets are closed.

    pytest-qt closes the widgets registered with ``qtbot.addWidget`` before fixtures are
    torn down, and closing a MainWindow waits for its workers, so nothing may be left.
    """
    yield
    assert workers.running_tasks() == 0, \
        f"a worker thread outlived the test: {workers.running_task_names()}"


@pytest.fixture(autouse=True)
def widgets_live_until_closed(qtbot, monkeypatch):
    """pytest-qt holds only weak references to ``addWidget`` widgets: a window kept in a
    test's local variable is garbage-collected when the test returns, deleted without a
    close (so its workers are never shut down) and skipped by pytest-qt's closing. Hold
    them until pytest-qt has closed them, as a user's session would."""
    held = []
    add = qtbot.addWidget

    def add_and_hold(widget, *args, **kwargs):
        held.append(widget)
        return add(widget, *args, **kwargs)

    monkeypatch.setattr(qtbot, "addWidget", add_and_hold)
    yield held


@pytest.fixture
def demo_case() -> Path:
    if not DEMO_CASE.is_dir():
        pytest.fail(f"demo case missing: {DEMO_CASE}")
    return DEMO_CASE


@pytest.fixture
def demo_jpegs() -> list[Path]:
    files = sorted((DEMO_DIR / "iq-othnccd").glob("*.jpg"))
    assert len(files) == 3, files
    return files


@pytest.fixture
def window(qtbot):
    """A shown MainWindow, closed (and its workers awaited) after the test."""
    from lungview.ui.main_window import MainWindow

    win = MainWindow(ai_enabled=False)  # AI has its own tests (tests/ui/test_ai.py)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win
