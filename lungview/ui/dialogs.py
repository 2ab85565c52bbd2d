"""Help dialogs: the keyboard shortcut sheet and About."""

from __future__ import annotations

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QMessageBox, QTextBrowser,
                               QVBoxLayout, QWidget)

from lungview import __version__
from lungview.ui.readouts import RESEARCH_NOTICE
from lungview.ui.resources import SHORTCUTS_FILE

_FALLBACK_SHORTCUTS = """# Keyboard and mouse
The shortcut sheet (resources/shortcuts.md) is missing from this installation.
Wheel: next/previous slice. Ctrl+wheel: zoom. Right-drag: window/level.
Keys 1-4: lung, mediastinum, bone, from-file window. R: reset view.
"""


def shortcuts_markdown() -> str:
    """The shortcut sheet (Markdown), or a short built-in summary when it is missing."""
    try:
        return SHORTCUTS_FILE.read_text(encoding="utf-8")
    except OSError:
        return _FALLBACK_SHORTCUTS


class ShortcutsDialog(QDialog):
    """Non-modal sheet of keyboard and mouse controls."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("lungview \u2014 keyboard shortcuts")
        self.setModal(False)
        self.browser = QTextBrowser()
        self.browser.setMarkdown(shortcuts_markdown())
        self.browser.setOpenExternalLinks(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(560, 620)


def about_text() -> str:
    return (f"<h3>lungview {__version__}</h3>"
            f"<p><b>{RESEARCH_NOTICE}.</b> Not for diagnosis or treatment decisions.</p>"
            "<p>Lung CT viewer with an EfficientNetB0 classifier (normal / benign / "
            "malignant) and class activation maps. Runs offline.</p>"
            "<p>Demo data: TCIA Lung-PET-CT-Dx (Lung_Dx-A0002, CC BY 4.0, "
            "doi:10.7937/TCIA.2020.NNC2046) and the IQ-OTH/NCCD lung cancer dataset "
            "(Alyasriy &amp; Al-Huseiny, Mendeley Data). See resources/demo/README.md.</p>")


def show_about(parent: QWidget) -> None:
    QMessageBox.about(parent, "About lungview", about_text())
