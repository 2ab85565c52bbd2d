"""Side panels: the series list (with thumbnails) and the DICOM tag browser."""

from __future__ import annotations

from typing import Iterable, Sequence

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from lungview.ui.readouts import mask_value

THUMB_SIZE = 96


class SeriesList(QListWidget):
    """One row per series: a thumbnail of its middle slice and a short description."""

    seriesSelected = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setWordWrap(True)
        self.setUniformItemSizes(False)
        self.setSpacing(2)
        self.setMinimumWidth(THUMB_SIZE + 80)
        self.currentRowChanged.connect(self._on_row_changed)

    def set_series(self, entries: Sequence[tuple[str, str, QImage | None]]) -> None:
        """Replace the list with (label, tooltip, thumbnail) rows; selects none."""
        self.blockSignals(True)
        self.clear()
        for label, tooltip, thumb in entries:
            item = QListWidgetItem(label)
            item.setToolTip(tooltip)
            if thumb is not None and not thumb.isNull():
                item.setIcon(QIcon(QPixmap.fromImage(thumb)))
            self.addItem(item)
        self.blockSignals(False)

    def select(self, row: int) -> None:
        """Highlight ``row`` without emitting ``seriesSelected``."""
        self.blockSignals(True)
        self.setCurrentRow(row)
        self.blockSignals(False)

    @Slot(int)
    def _on_row_changed(self, row: int) -> None:
        if row >= 0:
            self.seriesSelected.emit(row)


class TagBrowser(QWidget):
    """DICOM tags of the current slice with a filter box (tag, keyword or value)."""

    COLUMNS = ("Tag", "Keyword", "VR", "Value")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter by tag, keyword or value\u2026")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._apply_filter)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        for col in range(3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.status = QLabel()
        self.status.setObjectName("tagStatus")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.search)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)

    def set_rows(self, rows: Iterable[object], presentation: bool = False,
                 secrets: Sequence[str] = ()) -> None:
        """Show TagRow-like rows (``tag``, ``keyword``, ``vr``, ``value``).

        In presentation mode identifier values are replaced by ``(hidden)`` before they
        reach the table, so neither the display nor the filter can reveal them.
        """
        shown = []
        for row in rows:
            tag, keyword = str(getattr(row, "tag", "")), str(getattr(row, "keyword", ""))
            vr, value = str(getattr(row, "vr", "")), str(getattr(row, "value", ""))
            if presentation:
                value = mask_value(keyword, value, secrets)
            shown.append((tag, keyword, vr, " ".join(value.split())[:500]))
        self.table.setRowCount(len(shown))
        for r, values in enumerate(shown):
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setToolTip(text if len(text) > 40 else "")
                self.table.setItem(r, c, item)
        self._apply_filter(self.search.text())

    def clear_rows(self, message: str = "") -> None:
        self.table.setRowCount(0)
        self.status.setText(message)

    def visible_rows(self) -> list[tuple[str, ...]]:
        """The rows the user can currently see (after filtering)."""
        out = []
        for r in range(self.table.rowCount()):
            if not self.table.isRowHidden(r):
                out.append(tuple(self.table.item(r, c).text() for c in range(len(self.COLUMNS))))
        return out

    @Slot(str)
    def _apply_filter(self, text: str) -> None:
        needle = text.strip().lower()
        compact = _compact_tag(needle)  # "0010,0010", "(0010, 0010)" and "00100010" all match
        visible = 0
        for r in range(self.table.rowCount()):
            cells = [self.table.item(r, c) for c in range(len(self.COLUMNS))]
            match = (not needle
                     or any(needle in cell.text().lower() for cell in cells if cell)
                     or bool(compact and cells[0] and compact in _compact_tag(cells[0].text())))
            self.table.setRowHidden(r, not match)
            visible += match
        total = self.table.rowCount()
        self.status.setText(f"{visible} of {total} tags" if needle else f"{total} tags")


def _compact_tag(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch not in "(), ")
