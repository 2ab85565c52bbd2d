"""Non-modal message banners at the top of the viewer (errors, warnings, notes).

A modal dialog would stop a radiologist scrolling; a banner says what went wrong (file and
reason), stays until dismissed, and the app keeps running.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

_STYLES = {
    "error": "background:#5b1a1a; color:#ffe4e4; border:1px solid #b84a4a;",
    "warning": "background:#4d3f0c; color:#fff3cc; border:1px solid #b08f2a;",
    "info": "background:#16324d; color:#dcecff; border:1px solid #3f6f9e;",
}
_PREFIX = {"error": "Error", "warning": "Warning", "info": "Note"}


class Banner(QFrame):
    """One dismissable message line."""

    dismissed = Signal()

    def __init__(self, level: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level = level if level in _STYLES else "info"
        self.setObjectName("banner")
        self.setStyleSheet(f"QFrame#banner {{{_STYLES[self.level]} border-radius:3px;}}"
                           "QLabel, QToolButton { background: transparent; border: none;"
                           " color: inherit; }")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        self.label = QLabel(f"<b>{_PREFIX[self.level]}:</b> {_escape(text)}")
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text = text
        self.close_button = QToolButton()
        self.close_button.setText("\u2715")
        self.close_button.setToolTip("Dismiss")
        self.close_button.setAccessibleName("Dismiss message")
        self.close_button.clicked.connect(self._dismiss)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)

    @Slot()
    def _dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()
        self.deleteLater()


class BannerArea(QWidget):
    """A column of banners; the newest at the bottom, at most ``limit`` kept."""

    def __init__(self, parent: QWidget | None = None, limit: int = 4) -> None:
        super().__init__(parent)
        self._limit = limit
        self._banners: list[Banner] = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(4, 2, 4, 2)
        self._layout.setSpacing(2)
        self.hide()

    def add(self, level: str, text: str) -> Banner:
        """Show a message; returns its banner (tests and callers may dismiss it)."""
        banner = Banner(level, text, self)
        banner.dismissed.connect(self._on_dismissed)
        self._banners.append(banner)
        self._layout.addWidget(banner)
        while len(self._banners) > self._limit:
            old = self._banners.pop(0)
            old.hide()
            old.deleteLater()
        self.show()
        return banner

    def clear(self) -> None:
        """Remove every banner (a new case is being opened)."""
        for banner in self._banners:
            banner.hide()
            banner.deleteLater()
        self._banners.clear()
        self.hide()

    def messages(self) -> list[str]:
        """The plain text of the banners currently shown."""
        return [b.text for b in self._banners]

    def banners(self) -> list[Banner]:
        return list(self._banners)

    @Slot()
    def _on_dismissed(self) -> None:
        banner = self.sender()
        if banner in self._banners:
            self._banners.remove(banner)
        if not self._banners:
            self.hide()


def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
