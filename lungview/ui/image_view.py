"""The slice view: zoom, pan, scroll, window/level drag, distance measurement, overlays.

Scene coordinates are image pixel coordinates (x = column, y = row; the pixmap sits at the
origin, one scene unit per pixel), so everything measured or read out maps straight back
to the array. The view only reports intent (slice steps, drags, cursor position) through
signals; the main window owns the state.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (QBrush, QColor, QFont, QImage, QKeyEvent, QMouseEvent, QPainter,
                           QPen, QPixmap, QTransform, QWheelEvent)
from PySide6.QtWidgets import (QGraphicsItem, QGraphicsLineItem, QGraphicsPixmapItem,
                               QGraphicsRectItem,
                               QGraphicsScene, QGraphicsSimpleTextItem, QGraphicsView, QWidget)

from lungview.ui.readouts import length_text

NAVIGATE, PAN, MEASURE, REGION = "navigate", "pan", "measure", "region"
_CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
_ZOOM_STEP = 1.25
_MIN_ZOOM, _MAX_ZOOM = 0.05, 40.0
_MEASURE_COLOUR = QColor(255, 214, 0)
_REGION_COLOUR = QColor(0, 230, 255)


class ImageView(QGraphicsView):
    """QGraphicsView showing one slice with corner overlays.

    Signals
    -------
    sliceStep(int): move by this many slices (wheel, arrows, PgUp/PgDn).
    sliceJump(int): go to slice 0 (Home) or the last (-1, End).
    cursorMoved(float, float): image x (column), y (row) under the mouse.
    cursorLeft(): the mouse left the image.
    windowDragStarted(), windowDragged(int, int): right-drag offsets since the press.
    measurementFinished(str): the text of a finished measurement.
    regionDrawn(float, float, float, float): a box (row0, col0, row1, col1) drawn in
        ``region`` mode, in image pixels.
    """

    sliceStep = Signal(int)
    sliceJump = Signal(int)
    cursorMoved = Signal(float, float)
    cursorLeft = Signal()
    windowDragStarted = Signal()
    windowDragged = Signal(int, int)
    measurementFinished = Signal(str)
    regionDrawn = Signal(float, float, float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Keep Python references to the scene and every item: Qt would otherwise be free
        # to delete objects Python still points to.
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.pixmap_item = QGraphicsPixmapItem()
        self.pixmap_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._scene.addItem(self.pixmap_item)
        pen = QPen(_MEASURE_COLOUR, 2)
        pen.setCosmetic(True)  # 2 screen pixels whatever the zoom
        self.line_item = QGraphicsLineItem()
        self.line_item.setPen(pen)
        self.line_item.setZValue(10)
        self.label_item = QGraphicsSimpleTextItem()
        self.label_item.setBrush(QBrush(_MEASURE_COLOUR))
        self.label_item.setFont(QFont(self.font().family(), 11, QFont.Weight.Bold))
        self.label_item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.label_item.setZValue(11)
        for item in (self.line_item, self.label_item):
            self._scene.addItem(item)
            item.hide()
        self._image = QImage()
        self._overlay: dict[str, list[str]] = {corner: [] for corner in _CORNERS}
        self._spacing: tuple[float, float] | None = None
        self._mode = NAVIGATE
        self._fit = True
        self._wheel_rest = 0
        self._pan_from: QPointF | None = None
        self._wl_from: QPointF | None = None
        self._measure_from: QPointF | None = None
        self._measure_text = ""
        self._region_from: QPointF | None = None
        region_pen = QPen(_REGION_COLOUR, 2)
        region_pen.setCosmetic(True)
        self._region_pen = region_pen
        self.rubber_item = QGraphicsRectItem()
        self.rubber_item.setPen(region_pen)
        self.rubber_item.setZValue(12)
        self.rubber_item.hide()
        self._scene.addItem(self.rubber_item)
        self._region_items: list[QGraphicsRectItem] = []

        self.setBackgroundBrush(QBrush(Qt.GlobalColor.black))
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        # Drops go to the main window, which opens them.
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.PreventContextMenu)

    # ----------------------------------------------------------------- content
    def set_image(self, image: QImage) -> None:
        """Show ``image`` (one scene unit per pixel); keeps the zoom unless still fitted."""
        size_changed = image.size() != self._image.size()
        self._image = image
        self.pixmap_item.setPixmap(QPixmap.fromImage(image))
        rect = QRectF(0, 0, image.width(), image.height())
        # A generous scene rect lets the user pan the image anywhere, even when zoomed out.
        margin_w, margin_h = max(rect.width(), 1) * 4, max(rect.height(), 1) * 4
        self._scene.setSceneRect(rect.adjusted(-margin_w, -margin_h, margin_w, margin_h))
        if self._fit or size_changed:
            self.reset_view()
        self.viewport().update()

    def clear_image(self) -> None:
        self._image = QImage()
        self.pixmap_item.setPixmap(QPixmap())
        self.viewport().update()

    def image(self) -> QImage:
        """The slice image currently displayed (a null QImage when none)."""
        return self._image

    def set_overlay(self, corner: str, lines: list[str]) -> None:
        """Text drawn in a corner of the view (``top-left``, ``bottom-right``...)."""
        self._overlay[corner] = [line for line in lines if line]
        self.viewport().update()

    def overlay_text(self) -> str:
        return "\n".join(line for corner in _CORNERS for line in self._overlay[corner])

    def set_spacing(self, spacing: tuple[float, float] | None) -> None:
        """Pixel spacing (row mm, column mm) used to measure; None measures in pixels."""
        self._spacing = spacing
        self.clear_measurement()

    # ---------------------------------------------------------------- zoom/pan
    def zoom_factor(self) -> float:
        return self.transform().m11()

    def reset_view(self) -> None:
        """Fit the whole slice in the view, centred (key R)."""
        self._fit = True
        self.resetTransform()
        if not self._image.isNull():
            self.fitInView(self.pixmap_item, Qt.AspectRatioMode.KeepAspectRatio)
        self.viewport().update()

    def zoom_by(self, factor: float) -> None:
        """Zoom by ``factor`` about the view centre (+/- keys) or the mouse (Ctrl+wheel)."""
        current = self.zoom_factor()
        target = min(_MAX_ZOOM, max(_MIN_ZOOM, current * factor))
        if current > 0 and not math.isclose(target, current):
            self._fit = False
            self.scale(target / current, target / current)
            self.viewport().update()

    def set_zoom(self, zoom: float, centre: QPointF | None = None) -> None:
        """Absolute zoom (1.0 = one screen pixel per image pixel), centred on ``centre``."""
        self._fit = False
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self.centerOn(centre if centre is not None else self.pixmap_item.boundingRect().center())
        self.viewport().update()

    def set_mode(self, mode: str) -> None:
        """``navigate`` (default), ``pan`` (left-drag pans) or ``measure`` (left-drag measures)."""
        self._mode = mode
        cursor = {PAN: Qt.CursorShape.OpenHandCursor, REGION: Qt.CursorShape.CrossCursor,
                  MEASURE: Qt.CursorShape.CrossCursor}.get(mode, Qt.CursorShape.ArrowCursor)
        self.viewport().setCursor(cursor)

    def mode(self) -> str:
        return self._mode

    def _pan(self, delta: QPointF) -> None:
        self._fit = False
        hbar, vbar = self.horizontalScrollBar(), self.verticalScrollBar()
        hbar.setValue(hbar.value() - round(delta.x()))
        vbar.setValue(vbar.value() - round(delta.y()))

    # ---------------------------------------------------------------- regions
    def set_regions(self, boxes: list[tuple[float, float, float, float]]) -> None:
        """Draw lesion boxes (row0, col0, row1, col1) over the slice."""
        for item in self._region_items:
            self._scene.removeItem(item)
        self._region_items = []
        for r0, c0, r1, c1 in boxes:
            item = QGraphicsRectItem(QRectF(c0, r0, c1 - c0, r1 - r0))
            item.setPen(self._region_pen)
            item.setZValue(9)
            self._scene.addItem(item)
            self._region_items.append(item)
        self.viewport().update()

    def region_count(self) -> int:
        return len(self._region_items)

    # ------------------------------------------------------------- measurement
    def clear_measurement(self) -> None:
        self._measure_from = None
        self._measure_text = ""
        self.line_item.hide()
        self.label_item.hide()

    def set_measurement_visible(self, visible: bool) -> None:
        """Show the measurement only on the slice it was drawn on."""
        has_line = bool(self._measure_text)
        self.line_item.setVisible(visible and has_line)
        self.label_item.setVisible(visible and has_line)

    def measurement_text(self) -> str:
        return self._measure_text

    def measurement_line(self) -> QLineF:
        return self.line_item.line()

    def _update_measurement(self, end: QPointF) -> None:
        start = self._measure_from
        if start is None:
            return
        self.line_item.setLine(QLineF(start, end))
        self._measure_text = length_text((start.x(), start.y()), (end.x(), end.y()),
                                         self._spacing)
        self.label_item.setText(self._measure_text)
        self.label_item.setPos(end + QPointF(6 / max(self.zoom_factor(), 1e-6), 0))
        self.line_item.show()
        self.label_item.show()

    # ------------------------------------------------------------------ events
    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            if delta:
                self.zoom_by(_ZOOM_STEP ** (delta / 120.0))
            event.accept()
            return
        # High-resolution wheels send small deltas: accumulate to whole notches.
        self._wheel_rest += delta
        steps = int(self._wheel_rest / 120)
        if steps:
            self._wheel_rest -= steps * 120
            self.sliceStep.emit(-steps)  # wheel towards the user = next slice
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        steps = {Qt.Key.Key_Down: 1, Qt.Key.Key_Right: 1, Qt.Key.Key_Up: -1,
                 Qt.Key.Key_Left: -1, Qt.Key.Key_PageDown: 10, Qt.Key.Key_PageUp: -10}
        if key in steps:
            self.sliceStep.emit(steps[key])
        elif key == Qt.Key.Key_Home:
            self.sliceJump.emit(0)
        elif key == Qt.Key.Key_End:
            self.sliceJump.emit(-1)
        elif key == Qt.Key.Key_Escape and self._measure_from is not None:
            self.clear_measurement()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        button, pos = event.button(), event.position()
        if button == Qt.MouseButton.MiddleButton or (
                button == Qt.MouseButton.LeftButton and self._mode == PAN):
            self._pan_from = pos
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        elif button == Qt.MouseButton.RightButton:
            self._wl_from = pos
            self.windowDragStarted.emit()
        elif button == Qt.MouseButton.LeftButton and self._mode == REGION:
            self._region_from = self.mapToScene(pos.toPoint())
            self.rubber_item.setRect(QRectF(self._region_from, self._region_from))
            self.rubber_item.show()
        elif button == Qt.MouseButton.LeftButton and self._mode == MEASURE:
            self._measure_from = self.mapToScene(pos.toPoint())
            self._update_measurement(self._measure_from)
        else:
            super().mousePressEvent(event)
            return
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._pan_from is not None:
            self._pan(pos - self._pan_from)
            self._pan_from = pos
        elif self._wl_from is not None:
            offset = pos - self._wl_from
            self.windowDragged.emit(round(offset.x()), round(offset.y()))
        elif self._region_from is not None:
            self.rubber_item.setRect(QRectF(self._region_from,
                                            self.mapToScene(pos.toPoint())).normalized())
        elif self._measure_from is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self._update_measurement(self.mapToScene(pos.toPoint()))
        scene_pos = self.mapToScene(pos.toPoint())
        bounds = QRectF(0, 0, self._image.width(), self._image.height())
        if not self._image.isNull() and bounds.contains(scene_pos):
            self.cursorMoved.emit(scene_pos.x(), scene_pos.y())
        else:
            self.cursorLeft.emit()
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        button = event.button()
        if self._pan_from is not None and button in (Qt.MouseButton.MiddleButton,
                                                     Qt.MouseButton.LeftButton):
            self._pan_from = None
            self.set_mode(self._mode)  # restore the mode's cursor
        elif self._wl_from is not None and button == Qt.MouseButton.RightButton:
            self._wl_from = None
        elif self._region_from is not None and button == Qt.MouseButton.LeftButton:
            end = self.mapToScene(event.position().toPoint())
            rect = QRectF(self._region_from, end).normalized().intersected(
                QRectF(0, 0, self._image.width(), self._image.height()))
            self._region_from = None
            self.rubber_item.hide()
            if rect.width() >= 2 and rect.height() >= 2:
                self.regionDrawn.emit(rect.top(), rect.left(), rect.bottom(), rect.right())
        elif self._measure_from is not None and button == Qt.MouseButton.LeftButton:
            self._update_measurement(self.mapToScene(event.position().toPoint()))
            self._measure_from = None
            if self.line_item.line().length() > 0:
                self.measurementFinished.emit(self._measure_text)
            else:
                self.clear_measurement()  # a click, not a drag
        else:
            super().mouseReleaseEvent(event)
            return
        event.accept()

    def leaveEvent(self, event) -> None:  # noqa: ANN001 - QEvent
        self.cursorLeft.emit()
        super().leaveEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: ANN001 - QResizeEvent
        super().resizeEvent(event)
        if self._fit:
            self.reset_view()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        """Corner text in screen coordinates, shadowed so it reads on any grey level."""
        super().drawForeground(painter, rect)
        painter.save()
        painter.setWorldTransform(QTransform())
        font = QFont(self.font())
        font.setPointSizeF(max(9.0, font.pointSizeF()))
        painter.setFont(font)
        metrics = painter.fontMetrics()
        line_h = metrics.height()
        area = self.viewport().rect().adjusted(8, 6, -8, -6)
        for corner in _CORNERS:
            lines = self._overlay[corner]
            top = corner.startswith("top")
            right = corner.endswith("right")
            for n, text in enumerate(lines):
                y = (area.top() + line_h * (n + 1) - metrics.descent() if top
                     else area.bottom() - line_h * (len(lines) - 1 - n) - metrics.descent())
                x = area.right() - metrics.horizontalAdvance(text) if right else area.left()
                painter.setPen(QColor(0, 0, 0, 220))
                painter.drawText(x + 1, y + 1, text)
                painter.setPen(QColor(235, 235, 235))
                painter.drawText(x, y, text)
        self._draw_scale_bar(painter, area, line_h)
        painter.restore()

    def scale_bar(self) -> tuple[float, float] | None:
        """(length in mm, length in screen pixels) of the scale bar, or None without
        pixel spacing or image."""
        if self._spacing is None or self._image.isNull() or self.zoom_factor() <= 0:
            return None
        px_per_mm = self.zoom_factor() / float(self._spacing[1])
        target = 120 / px_per_mm  # about 120 screen pixels
        for mm in (1, 2, 5, 10, 20, 50, 100, 200, 500):
            if mm >= target * 0.6:
                return float(mm), mm * px_per_mm
        return None

    def _draw_scale_bar(self, painter: QPainter, area, line_h: int) -> None:
        bar = self.scale_bar()
        if bar is None:
            return
        mm, length = bar
        x1 = area.right() - 4
        x0 = x1 - length
        y = area.bottom() - line_h * 2 - 6
        label = f"{mm / 10:g} cm" if mm >= 10 else f"{mm:g} mm"
        for colour, offset in ((QColor(0, 0, 0, 220), 1), (QColor(235, 235, 235), 0)):
            pen = QPen(colour, 2)
            painter.setPen(pen)
            painter.drawLine(QPointF(x0 + offset, y + offset), QPointF(x1 + offset, y + offset))
            for x in (x0, x1):
                painter.drawLine(QPointF(x + offset, y - 4 + offset),
                                 QPointF(x + offset, y + 4 + offset))
            painter.drawText(QPointF(x0 + offset, y - 6 + offset), label)
