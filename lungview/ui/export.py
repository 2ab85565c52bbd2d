"""Burn the current view into a PNG: slice + overlay, legend, method, class/probability,
model version and the research-use notice.

A screenshot of the window would carry whatever the screen shows (identifiers, other
windows); the export is composed from what the viewer knows, so presentation mode only
has to pass a neutral case label here and nothing identifying can slip in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter

from lungview.ui.overlay import legend_bar
from lungview.ui.qimage import array_to_qimage
from lungview.ui.readouts import RESEARCH_NOTICE

MIN_SIDE = 512
_FOOTER_LINE = 20


def compose_export(rgb: np.ndarray, lines: Sequence[str], colormap: str | None) -> QImage:
    """The export image: ``rgb`` (H, W[, 3]) uint8 scaled up to at least ``MIN_SIDE`` px
    wide, then a footer with the colour legend (when ``colormap``), ``lines`` and the
    research-use notice (always last)."""
    image = array_to_qimage(rgb).convertToFormat(QImage.Format.Format_RGB888)
    scale = max(1.0, MIN_SIDE / max(1, image.width()))
    if scale > 1.0:
        image = image.scaled(round(image.width() * scale), round(image.height() * scale),
                             Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    texts = [t for t in lines if t] + [RESEARCH_NOTICE]
    legend_h = 34 if colormap else 0
    font = QFont()
    font.setPixelSize(14)
    metrics = QFontMetrics(font)
    flags = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop) | int(
        Qt.TextFlag.TextWordWrap)
    heights = [max(_FOOTER_LINE, metrics.boundingRect(QRect(0, 0, image.width() - 16, 1000),
                                                      flags, t).height() + 4) for t in texts]
    footer = 10 + legend_h + sum(heights) + 6
    out = QImage(image.width(), image.height() + footer, QImage.Format.Format_RGB888)
    out.fill(QColor(16, 16, 20))
    painter = QPainter(out)
    painter.drawImage(0, 0, image)
    painter.setFont(font)
    y = image.height() + 8
    if colormap:
        bar_w = min(256, image.width() - 120)
        bar = array_to_qimage(legend_bar(colormap, bar_w, 14))
        painter.setPen(QColor(230, 230, 230))
        painter.drawText(QRect(8, y, 52, 16), Qt.AlignmentFlag.AlignLeft, "low")
        painter.drawImage(60, y + 1, bar)
        painter.drawText(QRect(66 + bar_w, y, 60, 16), Qt.AlignmentFlag.AlignLeft, "high")
        y += legend_h
    for n, (text, height) in enumerate(zip(texts, heights)):
        last = n == len(texts) - 1
        painter.setPen(QColor(241, 230, 255) if last else QColor(235, 235, 235))
        if last:
            bold = QFont(font)
            bold.setBold(True)
            painter.setFont(bold)
        painter.drawText(QRect(8, y, image.width() - 16, height), flags, text)
        y += height
    painter.end()
    return out


def save_png(image: QImage, path: str | Path) -> None:
    """Write ``image``; OSError naming the file when it cannot be written."""
    if not image.save(str(path), "PNG"):
        raise OSError(f"{path}: could not write the PNG (folder missing or not writable?)")
