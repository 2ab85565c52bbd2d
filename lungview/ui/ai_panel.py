"""The AI dock: prediction bars, per-slice strip, heatmap controls, progress and cancel.

Only widgets and their state here; the main window decides what a control change means
(re-blend only, or a new job). Style controls (opacity, colour map, threshold, contour,
scaling) emit ``styleChanged``; what needs a computation (method, class, heatmap on/off)
emits ``requestChanged``.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout,
                               QLabel, QProgressBar, QPushButton, QSizePolicy, QSlider,
                               QVBoxLayout, QWidget)

from lungview.model.architecture import LABELS
from lungview.ui.overlay import COLORMAPS, SCALINGS, OverlayStyle
from lungview.ui.readouts import RESEARCH_NOTICE

class SliceStrip(QWidget):
    """One bar per slice: height = malignant probability; click a bar to go there."""

    sliceClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._values: list[float | None] = []
        self._current = -1
        self.setMinimumHeight(54)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Malignant probability per slice (click to go to a slice)")
        self.setAccessibleName("Per-slice malignant probability")

    def sizeHint(self) -> QSize:
        return QSize(260, 54)

    def set_values(self, values: list[float | None], current: int) -> None:
        self._values, self._current = list(values), current
        self.update()

    def values(self) -> list[float | None]:
        return list(self._values)

    def most_suspicious(self) -> int | None:
        known = [(v, i) for i, v in enumerate(self._values) if v is not None]
        return max(known)[1] if known else None

    def _bar_rect(self, i: int) -> QRectF:
        n = max(1, len(self._values))
        w = self.width() / n
        return QRectF(i * w, 0, w, self.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(24, 24, 28))
        h = self.height() - 2
        for i, value in enumerate(self._values):
            rect = self._bar_rect(i).adjusted(1, 1, -1, -1)
            if i == self._current:
                painter.fillRect(rect, QColor(70, 70, 90))
            if value is None:
                painter.fillRect(QRectF(rect.left(), rect.bottom() - 2, rect.width(), 2),
                                 QColor(90, 90, 90))
                continue
            bar = h * max(0.0, min(1.0, value))
            colour = QColor(214, 69, 65) if value >= 0.5 else QColor(120, 160, 210)
            painter.fillRect(QRectF(rect.left(), rect.bottom() - bar, rect.width(), bar), colour)
        painter.setPen(QPen(QColor(200, 200, 200, 120), 1, Qt.PenStyle.DashLine))
        painter.drawLine(0, self.height() // 2, self.width(), self.height() // 2)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._values:
            n = len(self._values)
            index = int(event.position().x() / max(1.0, self.width() / n))
            self.sliceClicked.emit(max(0, min(n - 1, index)))
        event.accept()


class AiPanel(QWidget):
    """Dock contents; see the module docstring for the signals' meaning."""

    styleChanged = Signal()
    requestChanged = Signal()
    gridRequested = Signal()
    exportRequested = Signal()
    cancelRequested = Signal()
    sliceClicked = Signal(int)
    jumpRequested = Signal()

    def __init__(self, method_names: tuple[str, ...], method_titles: dict[str, str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.method_titles = dict(method_titles)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        notice = QLabel(f"<b>{RESEARCH_NOTICE}</b>")
        notice.setWordWrap(True)
        notice.setStyleSheet("color:#e9dcff; background:#3a1f5c; padding:3px;"
                             " border-radius:3px;")
        layout.addWidget(notice)
        self.status = QLabel("AI idle")
        self.status.setWordWrap(True)
        self.status.setObjectName("aiStatus")
        layout.addWidget(self.status)

        prediction = QGroupBox("Prediction (this slice)")
        form = QFormLayout(prediction)
        self.bars: dict[str, QProgressBar] = {}
        for label in LABELS:
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setFormat("\u2014")
            bar.setTextVisible(True)
            bar.setAccessibleName(f"{label} probability")
            self.bars[label] = bar
            form.addRow(label, bar)
        self.summary = QLabel("\u2014")
        self.summary.setWordWrap(True)
        form.addRow(self.summary)
        self.model_label = QLabel("model: \u2014")
        self.model_label.setWordWrap(True)
        form.addRow(self.model_label)
        layout.addWidget(prediction)

        series = QGroupBox("Series: malignant probability per slice")
        column = QVBoxLayout(series)
        self.strip = SliceStrip()
        self.strip.sliceClicked.connect(self.sliceClicked)
        self.jump_button = QPushButton("Go to most suspicious slice")
        self.jump_button.setEnabled(False)
        self.jump_button.clicked.connect(self.jumpRequested)
        self.strip_label = QLabel("")
        column.addWidget(self.strip)
        column.addWidget(self.strip_label)
        column.addWidget(self.jump_button)
        layout.addWidget(series)

        heat = QGroupBox("Heatmap")
        form = QFormLayout(heat)
        self.show_heatmap = QCheckBox("Show heatmap (H)")
        self.show_heatmap.setChecked(True)
        self.show_heatmap.toggled.connect(self.requestChanged)
        form.addRow(self.show_heatmap)
        self.method_combo = QComboBox()
        for name in method_names:
            self.method_combo.addItem(self.method_titles.get(name, name), name)
        self.method_combo.setAccessibleName("CAM method")
        self.method_combo.currentIndexChanged.connect(self.requestChanged)
        form.addRow("Method", self.method_combo)
        self._heat_form = form
        self.target_combo = QComboBox()
        self.target_combo.addItem("Predicted class", None)
        for label in LABELS:
            self.target_combo.addItem(label, label)
        self.target_combo.setAccessibleName("Explained class")
        self.target_combo.currentIndexChanged.connect(self.requestChanged)
        form.addRow("Class", self.target_combo)
        self.colormap_combo = QComboBox()
        for name in COLORMAPS:
            self.colormap_combo.addItem(name + (" (perceptually uniform)"
                                                if name != "jet" else ""), name)
        self.colormap_combo.currentIndexChanged.connect(self.styleChanged)
        form.addRow("Colours", self.colormap_combo)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(45)
        self.opacity.setAccessibleName("Heatmap opacity")
        self.opacity.valueChanged.connect(self.styleChanged)
        form.addRow("Opacity", self.opacity)
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(0, 95)
        self.threshold.setValue(0)
        self.threshold.setAccessibleName("Heatmap threshold")
        self.threshold.setToolTip("Hide map values below this fraction")
        self.threshold.valueChanged.connect(self.styleChanged)
        form.addRow("Threshold", self.threshold)
        self.contour = QCheckBox("Contours instead of fill")
        self.contour.toggled.connect(self.styleChanged)
        form.addRow(self.contour)
        self.scaling_combo = QComboBox()
        for name in SCALINGS:
            self.scaling_combo.addItem(name, name)
        self.scaling_combo.setToolTip("per-image: each map stretched to its own max; "
                                      "absolute: relative to the strongest map of this "
                                      "method and class in the case")
        self.scaling_combo.currentIndexChanged.connect(self.styleChanged)
        form.addRow("Scaling", self.scaling_combo)
        self.map_label = QLabel("")
        self.map_label.setWordWrap(True)
        form.addRow(self.map_label)
        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancelRequested)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        form.addRow(row)
        buttons = QHBoxLayout()
        self.grid_button = QPushButton("All methods\u2026")
        self.grid_button.clicked.connect(self.gridRequested)
        self.export_button = QPushButton("Export PNG\u2026")
        self.export_button.clicked.connect(self.exportRequested)
        buttons.addWidget(self.grid_button)
        buttons.addWidget(self.export_button)
        form.addRow(buttons)
        layout.addWidget(heat)
        layout.addStretch(1)
        self.set_enabled(False)

    # ------------------------------------------------------------------ state
    def overlay_style(self) -> OverlayStyle:
        return OverlayStyle(opacity=self.opacity.value() / 100.0,
                            colormap=self.colormap_combo.currentData(),
                            threshold=self.threshold.value() / 100.0,
                            contour=self.contour.isChecked(),
                            scaling=self.scaling_combo.currentData())

    def method(self) -> str:
        return str(self.method_combo.currentData())

    def target(self) -> str | None:
        return self.target_combo.currentData()

    def heatmap_on(self) -> bool:
        return self.show_heatmap.isChecked()

    def set_method_choice_visible(self, visible: bool) -> None:
        """Show or hide the method switcher (a blinded reader study hides it) and the
        all-methods button, label included."""
        self._heat_form.setRowVisible(self.method_combo, visible)
        self.grid_button.setVisible(visible)

    def set_enabled(self, on: bool) -> None:
        for widget in (self.method_combo, self.target_combo, self.grid_button,
                       self.export_button, self.show_heatmap):
            widget.setEnabled(on)

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def set_busy(self, busy: bool, cancellable: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy and cancellable)
        if busy:
            self.progress.setRange(0, 0)

    @Slot(int, int)
    def set_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    def set_prediction(self, probabilities: dict[str, float] | None, model: str) -> None:
        for label, bar in self.bars.items():
            if probabilities is None or label not in probabilities:
                bar.setValue(0)
                bar.setFormat("\u2014")
                continue
            p = float(probabilities[label])
            bar.setValue(round(p * 1000))
            bar.setFormat(f"{100 * p:.1f} %")
        if probabilities:
            malignant = float(probabilities.get("malignant", 0.0))
            best = max(probabilities, key=probabilities.get)
            self.summary.setText(f"<b>{best}</b> \u00b7 malignant {100 * malignant:.1f} % vs "
                                 f"not malignant {100 * (1 - malignant):.1f} %")
        else:
            self.summary.setText("\u2014")
        self.model_label.setText(f"model: {model}" if model else "model: \u2014")

    def set_strip(self, values: list[float | None], current: int) -> None:
        self.strip.set_values(values, current)
        best = self.strip.most_suspicious()
        known = sum(v is not None for v in values)
        self.jump_button.setEnabled(best is not None and len(values) > 1)
        if values:
            text = f"{known}/{len(values)} slices predicted"
            if best is not None:
                text += f"; highest malignant {100 * values[best]:.1f} % at slice {best + 1}"
            self.strip_label.setText(text)
        else:
            self.strip_label.setText("")
