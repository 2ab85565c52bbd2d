"""Event helpers for driving the real viewer widgets in tests."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

LOAD_TIMEOUT_MS = 30_000


def open_and_wait(qtbot, win, path) -> object:
    """Open ``path`` through the worker and wait until the case is on screen."""
    with qtbot.waitSignal(win.caseLoaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        win.open_path(path)
    return blocker.args[0]


def open_and_fail(qtbot, win, path) -> str:
    """Open ``path`` and wait for the failure message."""
    with qtbot.waitSignal(win.loadFailed, timeout=LOAD_TIMEOUT_MS) as blocker:
        win.open_path(path)
    return blocker.args[0]


def viewport_pos(view, x: float, y: float) -> QPointF:
    """Viewport position of image pixel centre (column ``x``, row ``y``)."""
    return QPointF(view.mapFromScene(QPointF(x + 0.5, y + 0.5)))


def send_mouse(widget, kind: QEvent.Type, pos: QPointF,
               button: Qt.MouseButton = Qt.MouseButton.NoButton,
               buttons: Qt.MouseButton = Qt.MouseButton.NoButton,
               modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    event = QMouseEvent(kind, pos, QPointF(widget.mapToGlobal(pos.toPoint())), button,
                        buttons, modifiers)
    QApplication.sendEvent(widget, event)


def drag(widget, start: QPointF, end: QPointF, button: Qt.MouseButton, steps: int = 4) -> None:
    """Press ``button`` at ``start``, move in ``steps`` to ``end``, release."""
    send_mouse(widget, QEvent.Type.MouseButtonPress, start, button, button)
    for i in range(1, steps + 1):
        point = start + (end - start) * (i / steps)
        send_mouse(widget, QEvent.Type.MouseMove, point, Qt.MouseButton.NoButton, button)
    send_mouse(widget, QEvent.Type.MouseButtonRelease, end, button, Qt.MouseButton.NoButton)


def send_wheel(widget, notches: int,
               modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    """Turn the wheel by ``notches`` (positive = away from the user)."""
    pos = QPointF(widget.rect().center())
    event = QWheelEvent(pos, QPointF(widget.mapToGlobal(pos.toPoint())), QPoint(0, 0),
                        QPoint(0, 120 * notches), Qt.MouseButton.NoButton, modifiers,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
