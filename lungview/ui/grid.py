"""All seven CAM methods side by side for the current slice (non-modal window).

Tiles fill in as maps arrive (the fast methods together, then Score-CAM with progress);
each tile states its method, class, probability and compute time, because a per-image
scaled map alone says nothing about how confident the model was.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QDialog, QGridLayout, QHBoxLayout, QLabel, QProgressBar,
                               QPushButton, QVBoxLayout, QWidget)

from lungview.ui.qimage import array_to_qimage
from lungview.ui.readouts import RESEARCH_NOTICE

TILE_PX = 300


class _Tile(QWidget):
    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = QLabel("computing\u2026")
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setFixedSize(TILE_PX, TILE_PX)
        self.image.setStyleSheet("background:#000; color:#aaa;")
        self.caption = QLabel(f"<b>{title}</b>")
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.image)
        layout.addWidget(self.caption)
        self.title = title

    def show_rgb(self, rgb: np.ndarray, caption: str) -> None:
        pixmap = QPixmap.fromImage(array_to_qimage(rgb)).scaled(
            TILE_PX, TILE_PX, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation)
        self.image.setPixmap(pixmap)
        self.caption.setText(f"<b>{self.title}</b><br>{caption}")


class GridDialog(QDialog):
    """Original slice plus one tile per method. ``cancelRequested`` stops slow methods."""

    cancelRequested = Signal()

    def __init__(self, methods: tuple[str, ...], titles: dict[str, str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModal(False)
        self.setWindowTitle("lungview \u2014 all CAM methods")
        self.methods = methods
        grid = QGridLayout()
        self.original = _Tile("Slice")
        self.tiles = {name: _Tile(titles.get(name, name)) for name in methods}
        for n, tile in enumerate([self.original, *self.tiles.values()]):
            grid.addWidget(tile, n // 4, n % 4)
        self.header = QLabel("")
        self.header.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.cancel_button = QPushButton("Cancel slow methods")
        self.cancel_button.clicked.connect(self.cancelRequested)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        notice = QLabel(f"<b>{RESEARCH_NOTICE}</b>")
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addLayout(grid)
        layout.addLayout(row)
        layout.addWidget(notice)

    def start(self, header: str, gray: np.ndarray) -> None:
        self.header.setText(header)
        self.original.show_rgb(gray, "as displayed")
        for tile in self.tiles.values():
            tile.image.clear()
            tile.image.setText("computing\u2026")
            tile.caption.setText(f"<b>{tile.title}</b>")
        self.set_busy(True)

    def set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)

    def set_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    def show_maps(self, cams: dict[str, Any], render: Callable[[Any], np.ndarray]) -> None:
        """Draw every map in ``cams`` with ``render(cam) -> RGB`` (the window's style)."""
        for name, cam in cams.items():
            tile = self.tiles.get(name)
            if tile is None:
                continue
            note = " \u00b7 flat map (no evidence)" if cam.flat else ""
            tile.show_rgb(render(cam), f"{cam.target_label} p={cam.probability:.2f} \u00b7 "
                                       f"{cam.seconds:.2f} s{note}")

    def mark_cancelled(self) -> None:
        for tile in self.tiles.values():
            if tile.image.pixmap() is None or tile.image.pixmap().isNull():
                tile.image.setText("cancelled")
        self.set_busy(False)

    def shown_methods(self) -> list[str]:
        return [n for n, t in self.tiles.items()
                if t.image.pixmap() is not None and not t.image.pixmap().isNull()]
