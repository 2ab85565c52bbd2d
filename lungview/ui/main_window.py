"""The viewer's main window: owns the open case, the current series, slice and window."""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QMainWindow, QSlider,
                               QVBoxLayout, QWidget)

from lungview.errors import LoadError
from lungview.ui import chrome
from lungview.ui.ai import READY, SLOW_METHODS, UNAVAILABLE, AiController, SliceAnalysis
from lungview.ui.export import compose_export, save_png
from lungview.ui.grid import GridDialog
from lungview.ui.overlay import blend
from lungview.ui.banner import BannerArea
from lungview.ui.dialogs import ShortcutsDialog, show_about
from lungview.ui.image_view import MEASURE, NAVIGATE, PAN, REGION, ImageView
from lungview.ui.loading import LoadedCase, load_case
from lungview.ui.qimage import array_to_qimage
from lungview.ui.readouts import (FROM_FILE, LUNG, PRESETS, badge_text, drag_window,
                                  format_window, identifying_values, mask_text,
                                  readout_text, slice_text, window_title)
from lungview.ui.settings import RecentFiles
from lungview.ui.workers import TaskRunner

CUSTOM = len(PRESETS)  # combo index of a window set by right-drag
#: How the ends of each colour map look, for the legend line on the image.
_COLOUR_ENDS = {"viridis": ("purple", "yellow"), "inferno": ("black", "yellow"),
                "jet": ("blue", "red")}
_CAM_KEEP = 64  # maps kept for instant redraw when scrolling back (about 1 MB each)


class MainWindow(QMainWindow):
    """lungview's window. ``open_path`` loads on a worker; the GUI never blocks on I/O.

    Signals
    -------
    caseLoaded(object): a LoadedCase is on screen.  loadFailed(str): the banner message.
    imageShown(int): a slice was drawn.  firstShown(): the window appeared the first time.

    AI: ``classifier_factory()`` returns a classifier (default: the bundled model,
    :meth:`lungview.model.classifier.Classifier.load`), ``engine_factory(classifier)`` a CAM
    engine; both run on the AI worker. ``ai_enabled=False`` gives a plain viewer.
    """

    caseLoaded = Signal(object)
    loadFailed = Signal(str)
    imageShown = Signal(int)
    firstShown = Signal()

    def __init__(self, presentation: bool = False, settings: QSettings | None = None,
                 parent: QWidget | None = None, *, ai_enabled: bool = True,
                 classifier_factory: Callable[[], Any] | None = None,
                 engine_factory: Callable[[Any], Any] | None = None) -> None:
        super().__init__(parent)
        self.ai_enabled = ai_enabled
        self.ai = AiController(classifier_factory, engine_factory, self)
        self.presentation = presentation
        self.recent = RecentFiles(settings)
        self.runner = TaskRunner(self)
        self.runner.succeeded.connect(self._on_load_succeeded)
        self.runner.failed.connect(self._on_load_failed)
        self.runner.progress.connect(self._on_load_progress)
        self.case: LoadedCase | None = None
        self.series: Any = None  # lungview.io.Series on screen
        self.series_index = -1
        self.slice_index = 0
        self._window: tuple[float, float] | None = None  # None = the file's own window
        self._preset = LUNG
        self._wl_start: tuple[float, float] | None = None
        self._pixels_key: tuple[int, int] | None = None
        self._pixels: np.ndarray | None = None
        self._cursor: tuple[float, float] | None = None
        self._measure_slice: int | None = None
        self._case_number = 0
        self._loading_path: str | None = None
        self._pending_path: str | None = None
        self._shown_once = False
        self._shortcuts: ShortcutsDialog | None = None
        self._grid: GridDialog | None = None
        self._predictions: dict[tuple[str, int], Any] = {}
        self._cams: OrderedDict[tuple, Any] = OrderedDict()
        self._raw_ref: dict[tuple[str, str, str], float] = {}
        self._grid_cams: dict[str, Any] = {}
        self._grid_request: tuple[str, int] | None = None
        self._grid_target: str | None = None
        self.review_panel: Any = None
        self.review_store: Any = None
        self.study_mode: Any = None  # lungview.ui.study_mode.StudyMode while a study runs
        self._build()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.setWindowTitle(window_title(None, self.presentation, 0))
        self.setAcceptDrops(True)
        self.resize(1400, 900)
        self.banners = BannerArea()
        self.view = ImageView()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.slider.setAccessibleName("Slice")
        self.slice_label = QLabel("no image")
        self.slice_label.setMinimumWidth(260)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(8, 2, 8, 2)
        bottom.addWidget(self.slice_label)
        bottom.addWidget(self.slider, 1)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.banners)
        column.addWidget(self.view, 1)
        column.addLayout(bottom)
        self.setCentralWidget(central)
        chrome.build_chrome(self)  # menus, toolbar, docks, status bar

        self.slider.valueChanged.connect(self.set_slice)
        self.view.sliceStep.connect(self.step_slice)
        self.view.sliceJump.connect(self._on_slice_jump)
        self.view.cursorMoved.connect(self._on_cursor_moved)
        self.view.cursorLeft.connect(self._on_cursor_left)
        self.view.windowDragStarted.connect(self._on_window_drag_started)
        self.view.windowDragged.connect(self._on_window_dragged)
        self.view.measurementFinished.connect(self._on_measurement_finished)
        self.view.regionDrawn.connect(self._on_region_drawn)
        self.series_list.seriesSelected.connect(self.show_series)
        self.tags_dock.visibilityChanged.connect(self._on_tags_visibility)
        self._connect_ai()
        self._update_overlays()

    # -------------------------------------------------------------- opening
    def open_path(self, path: str | Path) -> int:
        """Start loading ``path`` on the worker; returns the request id."""
        text = str(path)
        self._loading_path = text
        self.statusBar().showMessage(f"Opening {text}\u2026")
        self.progress.setRange(0, 0)
        self.progress.show()
        return self.runner.submit(functools.partial(load_case, text))

    def open_later(self, path: str | Path) -> None:
        """Open ``path`` once the event loop runs (the window paints first)."""
        from PySide6.QtCore import QTimer

        self._pending_path = str(path)
        QTimer.singleShot(0, self._open_pending)

    @Slot()
    def _open_pending(self) -> None:
        if self._pending_path is not None:
            path, self._pending_path = self._pending_path, None
            self.open_path(path)

    @Slot(int, int)
    def _on_load_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.statusBar().showMessage(
                f"Loading {Path(self._loading_path or '').name}: {done}/{total} files")

    @Slot(int, object)
    def _on_load_succeeded(self, _request_id: int, case: LoadedCase) -> None:
        self.progress.hide()
        self.banners.clear()
        self.case = case
        self._case_number += 1
        if self.study_mode is None:  # study cases stay out of the menu (names may tell)
            self.recent.add(case.path)
            chrome.rebuild_recent_menu(self)
        result = case.result
        if not result.series:  # io should raise instead; never show an empty case
            self._report_error(f"Could not open {case.path}: no images found")
            return
        entries = []
        for series, thumb in zip(result.series, case.thumbnails):
            label = f"{series.description or Path(series.source).name}\n" \
                    f"{series.modality or '?'} \u00b7 {len(series)} slice" \
                    f"{'s' if len(series) != 1 else ''}"
            entries.append((label, str(series.source),
                            array_to_qimage(thumb) if thumb is not None else None))
        self.series_list.set_series(entries)
        self.series_dock.setVisible(len(result.series) > 1)
        if result.skipped:
            first = result.skipped[0]
            count = len(result.skipped)
            self.banners.add("warning", f"{count} file{'s' if count != 1 else ''} skipped: "
                                        f"{Path(first.path).name}: {first.reason}")
        self._preset = LUNG
        self.show_series(0)
        opened = case.path if self.study_mode is None else self._case_label()
        self.statusBar().showMessage(f"Opened {opened} ({len(result.series)} series)", 8000)
        self.view.setFocus()
        self.caseLoaded.emit(case)

    @Slot(int, object)
    def _on_load_failed(self, _request_id: int, exc: object) -> None:
        self.progress.hide()
        if isinstance(exc, LoadError):
            message = f"Could not open {exc.path}: {exc.reason}"
        elif isinstance(exc, MemoryError):
            message = f"Could not open {self._loading_path}: out of memory"
        else:  # a bug, but the viewer must survive it and say what happened
            message = (f"Could not open {self._loading_path}: unexpected "
                       f"{type(exc).__name__}: {exc}")
        self._report_error(message)
        self.loadFailed.emit(message)

    def _report_error(self, message: str) -> None:
        self.banners.add("error", message)
        self.statusBar().showMessage(message, 15000)

    # --------------------------------------------------------------- series
    @Slot(int)
    def show_series(self, index: int) -> None:
        """Display series ``index`` of the open case at its middle slice."""
        if self.case is None or not 0 <= index < len(self.case.result.series):
            return
        series = self.case.result.series[index]
        self.series, self.series_index = series, index
        self.series_list.select(index)
        self._pixels_key, self._pixels = None, None
        if not series.hu:
            self._preset, self._window = FROM_FILE, None
        elif self._preset < len(PRESETS):
            self._window = PRESETS[self._preset].window
        chrome.update_preset_controls(self, series.hu)
        self.view.set_spacing(series.pixel_spacing)
        self._measure_slice = None
        badge = badge_text(series.kind, series.hu, series.pixel_spacing)
        self.badge_label.setText(badge)
        self.badge_label.setVisible(bool(badge))
        for warning in series.warnings:
            self.banners.add("warning", f"{Path(series.source).name}: {warning}")
        count = len(series)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, count - 1))
        self.slider.setEnabled(count > 1)
        self.slider.blockSignals(False)
        self._update_title()
        self.view.reset_view()
        self.set_slice(count // 2, force=True)

    # ---------------------------------------------------------------- slices
    @Slot(int)
    def set_slice(self, index: int, force: bool = False) -> None:
        """Show slice ``index`` (clamped) of the current series."""
        if self.series is None:
            return
        index = max(0, min(int(index), len(self.series) - 1))
        if index == self.slice_index and not force:
            return
        self.slice_index = index
        self.slider.blockSignals(True)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self._render()
        self.view.set_measurement_visible(self._measure_slice == index)
        if self.tags_dock.isVisible():
            self._refresh_tags()
        if self._cursor is not None:
            self._on_cursor_moved(*self._cursor)
        self._request_ai()
        self._update_review_context()

    @Slot(int)
    def step_slice(self, steps: int) -> None:
        self.set_slice(self.slice_index + steps)

    @Slot(int)
    def _on_slice_jump(self, where: int) -> None:
        self.set_slice(0 if where == 0 else len(self.series or []) - 1)

    def _render(self) -> None:
        try:
            image = self.series.display(self.slice_index, window=self._window)
        except LoadError as exc:
            self._slice_failed(f"Slice {self.slice_index + 1} could not be shown: "
                               f"{Path(exc.path).name}: {exc.reason}")
            return
        except Exception as exc:  # noqa: BLE001 - keep the viewer alive, report it
            self._slice_failed(f"Slice {self.slice_index + 1} could not be shown: "
                               f"unexpected {type(exc).__name__}: {exc}")
            return
        cam = self.current_cam()
        if cam is not None and not cam.flat:
            image = blend(image, cam.heatmap, self.ai_panel.overlay_style(), cam.raw_max,
                          self._raw_ref.get((self.series_key(), cam.method, cam.target_label)))
        self.view.set_image(array_to_qimage(image))
        self._update_overlays()
        self.imageShown.emit(self.slice_index)

    def _slice_failed(self, message: str) -> None:
        # Never leave the previous slice on screen under the new slice number.
        self.view.clear_image()
        self._update_overlays()
        self._report_error(message)

    # ----------------------------------------------------------- window/level
    def current_window(self) -> tuple[float, float]:
        """The (centre, width) in use; for "from file", the file's first stored window."""
        if self._window is not None:
            return self._window
        if self.series is None:
            return PRESETS[LUNG].window  # type: ignore[return-value]
        stored = list(self.series.stored_windows or [])
        return tuple(stored[0]) if stored else tuple(self.series.default_window())

    @Slot(int)
    def apply_preset(self, index: int) -> None:
        """Use preset ``index`` (0 lung, 1 mediastinum, 2 bone, 3 from file)."""
        if not 0 <= index < len(PRESETS) or self.series is None:
            return
        preset = PRESETS[index]
        if preset.hu_only and not self.series.hu:
            self.statusBar().showMessage(f"{preset.name} window needs CT data in HU; "
                                         "this image has pixel values only", 5000)
            chrome.sync_preset_combo(self)
            return
        self._preset, self._window = index, preset.window
        chrome.sync_preset_combo(self)
        self._render()

    @property
    def preset_index(self) -> int:
        """Index of the window in use: a preset (0-3) or ``CUSTOM``."""
        return self._preset

    @Slot(QAction)
    def on_preset_action(self, action: QAction) -> None:
        self.apply_preset(int(action.data()))

    @Slot()
    def _on_window_drag_started(self) -> None:
        self._wl_start = self.current_window() if self.series is not None else None

    @Slot(int, int)
    def _on_window_dragged(self, dx: int, dy: int) -> None:
        if self._wl_start is None:
            return
        self._window = drag_window(self._wl_start, dx, dy)
        self._preset = CUSTOM
        chrome.sync_preset_combo(self)
        self._render()

    # --------------------------------------------------------- view controls
    @Slot()
    def reset_view(self) -> None:
        self.view.reset_view()

    @Slot()
    def zoom_in(self) -> None:
        self.view.zoom_by(1.25)

    @Slot()
    def zoom_out(self) -> None:
        self.view.zoom_by(1 / 1.25)

    def _apply_tool_mode(self) -> None:
        mode = (PAN if self.pan_action.isChecked() else
                MEASURE if self.measure_action.isChecked() else
                REGION if self.region_action.isChecked() else NAVIGATE)
        self.view.set_mode(mode)

    @Slot(bool)
    def set_pan_mode(self, _on: bool) -> None:
        self._apply_tool_mode()

    @Slot(bool)
    def set_measure_mode(self, _on: bool) -> None:
        self._apply_tool_mode()

    @Slot(bool)
    def set_region_mode(self, on: bool) -> None:
        """Left-drag draws a lesion box for the reading (tool B)."""
        if on and self.study_mode is None:  # a study's boxes go to its own panel
            self._ensure_review()
            self.review_dock.show()
        self._apply_tool_mode()

    @Slot(str)
    def _on_measurement_finished(self, text: str) -> None:
        self._measure_slice = self.slice_index
        self.statusBar().showMessage(f"Distance: {text}", 10000)

    # ---------------------------------------------------------------- readout
    def _slice_pixels(self) -> np.ndarray | None:
        key = (self.series_index, self.slice_index)
        if self._pixels_key != key:
            try:
                self._pixels = np.asarray(self.series.pixels(self.slice_index))
            except Exception:  # noqa: BLE001 - the render path already reported it
                self._pixels = None
            self._pixels_key = key
        return self._pixels

    @Slot(float, float)
    def _on_cursor_moved(self, x: float, y: float) -> None:
        self._cursor = (x, y)
        pixels = self._slice_pixels() if self.series is not None else None
        col, row = math.floor(x), math.floor(y)
        if pixels is None or not (0 <= row < pixels.shape[0] and 0 <= col < pixels.shape[1]):
            self.readout_label.setText("")
            return
        value = float(pixels[row, col] if pixels.ndim == 2 else pixels[row, col].mean())
        self.readout_label.setText(readout_text(col, row, value, bool(self.series.hu)))

    @Slot()
    def _on_cursor_left(self) -> None:
        self._cursor = None
        self.readout_label.setText("")

    # ------------------------------------------------------------ overlays/tags
    def _case_name(self) -> str:
        """Patient name (or ID) and the opened file or folder: ``Lung_Dx-A0002 — series-3``.
        Only for the normal mode; presentation mode shows ``case N`` instead."""
        series = self.series
        if series is None:
            return ""
        patient = dict(series.patient or {})
        who = str(patient.get("PatientName") or patient.get("PatientID") or "").strip()
        where = Path(series.source).name
        return f"{who} \u2014 {where}" if who and who != where else where

    def _case_label(self) -> str:
        """The case's name on screen and in exports: "Case 3 of 10" in a reader study
        (file names may carry the diagnosis), "case N" in presentation mode, else the
        patient and the opened file or folder."""
        if self.study_mode is not None:
            return self.study_mode.case_title()
        if self.presentation:
            return f"case {self._case_number}"
        return self._case_name()

    def _method_title(self, method: str) -> str:
        """A CAM method's name on screen: blinded ("Map B") in a reader study until its
        reading is done."""
        if self.study_mode is not None:
            return self.study_mode.method_title(method)
        return self.ai_panel.method_titles.get(method, method)

    def _update_title(self) -> None:
        if self.study_mode is not None:
            self.setWindowTitle(f"lungview \u2014 reader study {self.study_mode.view.study.name}"
                                f" \u00b7 {self.study_mode.case_title()}")
        else:
            self.setWindowTitle(window_title(self._case_name(), self.presentation,
                                             self._case_number))

    def refresh_captions(self) -> None:
        """Redraw every place that names the case or the method (after a study reveals a
        method or moves to another case)."""
        if self.series is not None:
            self._update_title()
        self._describe_map()
        self._update_overlays()

    def _secrets(self) -> list[str]:
        return identifying_values(getattr(self.series, "patient", None)) \
            if self.presentation else []

    def _update_overlays(self) -> None:
        series = self.series
        if series is None:
            self.view.set_overlay("top-left", ["No case open \u2014 File \u25b8 Open, "
                                               "or drop a file or folder here"])
            self.wl_label.setText("")
            return
        patient = dict(series.patient or {})
        if self.presentation or self.study_mode is not None:
            who = [self._case_label()]
        else:
            name, pid = str(patient.get("PatientName") or ""), str(
                patient.get("PatientID") or "")
            who = [name, f"ID {pid}" if pid and pid != name else "",
                   str(patient.get("InstitutionName") or "")]
        # a study shows no description: for an image file it is the file name, which in
        # IQ-OTH/NCCD carries the diagnosis
        shown = series.description if self.study_mode is None else ""
        description = f"{series.modality or ''} {shown or ''}".strip()
        window = format_window(self.current_window(), from_file=self._window is None)
        positions = list(series.slice_positions or [])
        position = positions[self.slice_index] if self.slice_index < len(positions) else None
        spacing = series.pixel_spacing
        self.slice_label.setText(slice_text(self.slice_index, len(series), position))
        self.wl_label.setText(window)
        secrets = self._secrets()
        self.view.set_overlay("top-left", [mask_text(t, secrets) for t in who])
        self.view.set_overlay("bottom-left", [
            slice_text(self.slice_index, len(series), position, series.slice_thickness),
            f"{spacing[1]:.3f} mm/px" if spacing else "no pixel spacing"])
        self.view.set_overlay("top-right", [mask_text(description, secrets), window,
                                            self._cam_caption()])
        self.view.set_overlay("bottom-right", ["Research use only"])

    @Slot(bool)
    def _on_tags_visibility(self, visible: bool) -> None:
        if visible:
            self._refresh_tags()

    def _refresh_tags(self) -> None:
        if self.series is None:
            self.tag_browser.clear_rows("no image")
            return
        try:
            rows = self.series.tags(self.slice_index)
        except Exception as exc:  # noqa: BLE001 - show why, keep the viewer going
            reason = exc.reason if isinstance(exc, LoadError) else f"{type(exc).__name__}"
            self.tag_browser.clear_rows(f"tags unavailable: {reason}")
            return
        self.tag_browser.set_rows(rows, presentation=self.presentation,
                                  secrets=self._secrets())

    @Slot(bool)
    def set_presentation(self, on: bool) -> None:
        """Hide (or show again) patient identifiers in the title, overlays and tags."""
        self.presentation = bool(on)
        if self.series is not None:
            self._update_title()
        self._update_overlays()
        if self.tags_dock.isVisible():
            self._refresh_tags()
        chrome.rebuild_recent_menu(self)

    # -------------------------------------------------------------------- AI
    def _connect_ai(self) -> None:
        ai, panel = self.ai, self.ai_panel
        ai.stateChanged.connect(self._on_ai_state)
        ai.predictionReady.connect(self._on_prediction)
        ai.analysisReady.connect(self._on_analysis)
        ai.sweepUpdated.connect(self._on_sweep)
        ai.failed.connect(self._on_ai_failed)
        ai.progress.connect(panel.set_progress)
        ai.progress.connect(self._on_ai_progress)
        ai.busyChanged.connect(self._on_ai_busy)
        ai.gridPartial.connect(self._on_grid_partial)
        ai.gridDone.connect(self._on_grid_done)
        panel.styleChanged.connect(self._on_style_changed)
        panel.requestChanged.connect(self._on_request_changed)
        panel.gridRequested.connect(self.show_grid)
        panel.exportRequested.connect(self.choose_export)
        panel.cancelRequested.connect(self.cancel_ai)
        panel.sliceClicked.connect(self.set_slice)
        panel.jumpRequested.connect(self.jump_to_suspicious)

    def series_key(self) -> str:
        """Identifies the series on screen for caches (Series UID, else its source)."""
        if self.series is None:
            return ""
        return f"{self.series.series_uid or self.series.source}#{self.series_index}"

    def _cam_key(self, index: int | None = None) -> tuple:
        index = self.slice_index if index is None else index
        return (self.series_key(), index, self.ai_panel.method(), self.ai_panel.target())

    def current_cam(self) -> Any:
        """The CamResult drawn over the current slice, or None (off, pending, no AI)."""
        if not self.ai_enabled or self.series is None or not self.ai_panel.heatmap_on():
            return None
        return self._cams.get(self._cam_key())

    def current_prediction(self) -> Any:
        return self._predictions.get((self.series_key(), self.slice_index))

    def _cam_caption(self) -> str:
        cam = self.current_cam()
        if cam is None:
            return ""
        title = self._method_title(cam.method)
        if cam.flat:
            return f"{title}: flat map for {cam.target_label} (no evidence shown)"
        style = self.ai_panel.overlay_style()
        low, high = _COLOUR_ENDS.get(style.colormap, ("low", "high"))
        return (f"{title} \u00b7 {cam.target_label} p={cam.probability:.2f} \u00b7 "
                f"{style.scaling} \u00b7 {low} = low, {high} = high")

    def _request_ai(self) -> None:
        """Ask for the prediction and map of the slice on screen (no job if cached)."""
        if not self.ai_enabled or self.series is None or not self.ai.available:
            return
        key, index = self.series_key(), self.slice_index
        method = self.ai_panel.method() if self.ai_panel.heatmap_on() else None
        have_prediction = (key, index) in self._predictions
        have_map = method is None or self._cam_key() in self._cams
        self._show_prediction()
        if have_prediction and have_map:
            self._after_analysis()
            return
        self.ai.analyse(key, self.series, index, method, self.ai_panel.target())
        self.ai_panel.set_busy(True, cancellable=method in SLOW_METHODS)
        if method is not None and not have_map:
            title = self._method_title(method)
            self.ai_panel.map_label.setText(f"computing {title}\u2026")

    def _after_analysis(self) -> None:
        """Idle again: predict the remaining slices for the strip."""
        if len(self.series or []) > 1 and not self.ai.sweep_complete(self.series_key(),
                                                                      len(self.series)):
            self.ai.sweep(self.series_key(), self.series)

    def _show_prediction(self) -> None:
        prediction = self.current_prediction()
        model = self.ai.message if self.ai.state == READY else ""
        self.ai_panel.set_prediction(prediction.probabilities if prediction else None, model)
        self._update_strip()

    def _update_strip(self) -> None:
        if self.series is None:
            self.ai_panel.set_strip([], -1)
            return
        values = [None if v is None else float(v.get("malignant", 0.0))
                  for v in self.ai.sweep_values(self.series_key(), len(self.series))]
        self.ai_panel.set_strip(values, self.slice_index)

    @Slot(str, str)
    def _on_ai_state(self, state: str, message: str) -> None:
        if state == READY:
            self.ai_panel.set_status(f"Model ready: {message}")
            self.ai_panel.set_enabled(True)
            self._show_prediction()
        elif state == UNAVAILABLE:
            self.ai_panel.set_status(message)
            self.ai_panel.set_enabled(False)
            self.ai_panel.set_busy(False, False)
            self.banners.add("warning", message)
        else:
            self.ai_panel.set_status(message.capitalize() if message else state)
        self.statusBar().showMessage(message, 8000)

    @Slot(object)
    def _on_prediction(self, analysis: SliceAnalysis) -> None:
        self._predictions[(analysis.key, analysis.index)] = analysis.prediction
        if analysis.key == self.series_key() and analysis.index == self.slice_index:
            self._show_prediction()

    @Slot(object)
    def _on_analysis(self, analysis: SliceAnalysis) -> None:
        self._predictions[(analysis.key, analysis.index)] = analysis.prediction
        self._remember_cams(analysis.key, analysis.index, analysis.target, analysis.cams)
        self.ai_panel.set_busy(False, False)
        if analysis.key == self.series_key() and analysis.index == self.slice_index:
            self._show_prediction()
            self._describe_map()
            self._render()
            self._update_review_context()
        self._after_analysis()

    def _remember_cams(self, key: str, index: int, target: str | None,
                       cams: dict[str, Any]) -> None:
        for name, cam in cams.items():
            ckey = (key, index, name, target)
            self._cams[ckey] = cam
            self._cams.move_to_end(ckey)
            ref = (key, name, cam.target_label)
            self._raw_ref[ref] = max(self._raw_ref.get(ref, 0.0), float(cam.raw_max))
        while len(self._cams) > _CAM_KEEP:
            self._cams.popitem(last=False)

    def _describe_map(self) -> None:
        cam = self.current_cam()
        if cam is None:
            self.ai_panel.map_label.setText("")
            return
        title = self._method_title(cam.method)
        text = (f"{title} for <b>{cam.target_label}</b> (p = {cam.probability:.2f}), "
                f"{cam.seconds:.2f} s")
        if cam.flat:
            text += "<br>Flat map: no spatial evidence for this class."
        self.ai_panel.map_label.setText(text)

    @Slot(str, int, object)
    def _on_sweep(self, key: str, index: int, probs: object) -> None:
        if key == self.series_key():
            self._update_strip()

    @Slot(str)
    def _on_ai_failed(self, message: str) -> None:
        self.ai_panel.set_busy(False, False)
        self.ai_panel.map_label.setText(message)
        self._report_error(message)

    @Slot(int, int)
    def _on_ai_progress(self, done: int, total: int) -> None:
        if self._grid is not None and self._grid.isVisible():
            self._grid.set_progress(done, total)

    @Slot(bool)
    def _on_ai_busy(self, busy: bool) -> None:
        if not busy:
            self.ai_panel.set_busy(False, False)

    @Slot()
    def _on_style_changed(self) -> None:
        """Opacity, colours, threshold, contours, scaling: redraw only, no new job."""
        if self.series is not None:
            self._render()
        if self._grid is not None and self._grid.isVisible() and self._grid_cams:
            self._grid.show_maps(self._grid_cams, self._render_cam)

    @Slot()
    def _on_request_changed(self) -> None:
        if self.series is None:
            return
        self._update_review_context()
        self._describe_map()
        self._render()
        self._request_ai()

    @Slot(bool)
    def toggle_heatmap(self, _checked: bool = False) -> None:
        self.ai_panel.show_heatmap.toggle()

    @Slot()
    def cancel_ai(self) -> None:
        """Stop a slow map (or the grid); the viewer stays on the slice without it."""
        self.ai.cancel()
        self.ai_panel.set_busy(False, False)
        self.ai_panel.map_label.setText("Cancelled. Choose the method again to compute it.")
        if self._grid is not None:
            self._grid.mark_cancelled()

    @Slot()
    def jump_to_suspicious(self) -> None:
        best = self.ai_panel.strip.most_suspicious()
        if best is not None:
            self.set_slice(best)

    # grid ---------------------------------------------------------------
    def _render_cam(self, cam: Any) -> np.ndarray:
        image = self.series.display(self.slice_index, window=self._window)
        if cam.flat:
            return np.repeat(np.asarray(image)[..., None], 3, axis=2) \
                if np.asarray(image).ndim == 2 else np.asarray(image)
        return blend(image, cam.heatmap, self.ai_panel.overlay_style(), cam.raw_max,
                     self._raw_ref.get((self.series_key(), cam.method, cam.target_label)))

    @Slot()
    def show_grid(self) -> None:
        """Open the all-methods grid for the current slice and compute what is missing."""
        if self.series is None or not self.ai_enabled or not self.ai.available:
            return
        if self.study_mode is not None:  # the grid names every method
            self.statusBar().showMessage("The all-methods grid is off during a reader study",
                                         8000)
            return
        from lungview.explain import METHOD_NAMES

        if self._grid is None:
            self._grid = GridDialog(METHOD_NAMES, self.ai_panel.method_titles, self)
            self._grid.cancelRequested.connect(self.cancel_ai)
        self._grid_cams = {}
        label = (f"case {self._case_number}" if self.presentation
                 else Path(self.series.source).name)
        target = self.ai_panel.target() or "predicted class"
        style = self.ai_panel.overlay_style()
        self._grid.start(f"{label} \u00b7 slice {self.slice_index + 1}/{len(self.series)} "
                         f"\u00b7 class: {target} \u00b7 colours {style.colormap} "
                         f"(low \u2192 high), {style.scaling} scaling \u00b7 model "
                         f"{self.ai.message}",
                         self.series.display(self.slice_index, window=self._window))
        self._grid_request = (self.series_key(), self.slice_index)
        self._grid_target = self.ai_panel.target()
        self.ai.grid(self.series_key(), self.series, self.slice_index, self.ai_panel.target())
        self._grid.show()
        self._grid.raise_()

    @Slot(object)
    def _on_grid_partial(self, partial: Any) -> None:
        if self._grid is None or (partial.key, partial.index) != self._grid_request:
            return
        self._grid_cams = dict(partial.cams)
        self._remember_cams(partial.key, partial.index, self._grid_target, partial.cams)
        self._grid.show_maps(self._grid_cams, self._render_cam)

    @Slot()
    def _on_grid_done(self) -> None:
        if self._grid is not None:
            self._grid.set_busy(False)
        self._render()
        self._request_ai()  # the grid superseded the slice's own job: finish that now

    # export -------------------------------------------------------------
    @Slot()
    def choose_export(self) -> None:
        if self.series is None:
            return
        name = f"lungview-slice{self.slice_index + 1}.png"
        path, _ = QFileDialog.getSaveFileName(self, "Export view as PNG", name,
                                              "PNG image (*.png)")
        if path:
            self.export_view(path)

    def export_lines(self) -> list[str]:
        """Text burnt into an export (no patient identifiers in presentation mode)."""
        series = self.series
        lines = []
        cam = self.current_cam()
        style = self.ai_panel.overlay_style()
        if cam is not None:
            title = self._method_title(cam.method)
            what = "flat map, not drawn" if cam.flat else (
                f"{style.scaling} scaling, colours {style.colormap}"
                + (f", threshold {style.threshold:.2f}" if style.threshold else "")
                + (", contours" if style.contour else f", opacity {style.opacity:.2f}"))
            lines.append(f"Heatmap: {title} for class '{cam.target_label}' "
                         f"(p = {cam.probability:.3f}); {what}")
        else:
            lines.append("Heatmap: none")
        prediction = self.current_prediction()
        if prediction is not None:
            probs = ", ".join(f"{k} {100 * v:.1f} %" for k, v in
                              prediction.probabilities.items())
            lines.append(f"Prediction: {prediction.label} ({probs})")
        if self.ai.identity:
            ident = self.ai.identity
            sha = ident.get("sha256", "")
            lines.append(f"Model: {ident.get('name', '?')} version {ident.get('version', '?')}"
                         + (f", sha256 {sha[:12]}" if sha else ""))
        if series is not None:
            label = self._case_label()
            positions = list(series.slice_positions or [])
            z = positions[self.slice_index] if self.slice_index < len(positions) else None
            lines.append(f"{label} \u00b7 {slice_text(self.slice_index, len(series), z)} "
                         f"\u00b7 {format_window(self.current_window(), self._window is None)}")
        return lines

    def export_image(self) -> Any:
        """The export as a QImage (what :meth:`export_view` writes)."""
        image = self.series.display(self.slice_index, window=self._window)
        cam = self.current_cam()
        colormap = None
        if cam is not None and not cam.flat:
            image = self._render_cam(cam)
            colormap = self.ai_panel.overlay_style().colormap
        return compose_export(image, self.export_lines(), colormap)

    def export_view(self, path: str | Path) -> bool:
        """Write the current view to ``path`` (PNG); a banner says why when it fails."""
        if self.series is None:
            return False
        try:
            save_png(self.export_image(), path)
        except OSError as exc:
            self._report_error(str(exc))
            return False
        self.statusBar().showMessage(f"Exported {path}", 8000)
        return True

    # ---------------------------------------------------------------- reading
    def _ensure_review(self) -> Any:
        """The review panel docked on the right, created on first use (opens the store).

        Returns None (and says why in a banner) when the store cannot be opened."""
        if self.review_panel is not None:
            return self.review_panel
        from lungview.errors import LungviewError
        from lungview.review import ReviewStore
        from lungview.ui.review_panel import ReviewPanel

        try:
            store = ReviewStore()
        except (LungviewError, OSError) as exc:
            self._report_error(f"Readings cannot be saved: {exc}")
            return None
        self.review_store = store
        self.review_panel = ReviewPanel(store, self)
        self.review_panel.regionsChanged.connect(self._on_regions_changed)
        self.review_panel.saveFailed.connect(self._on_review_save_failed)
        self.review_dock.setWidget(self.review_panel)
        self._update_review_context()
        return self.review_panel

    @Slot(bool)
    def _on_review_visibility(self, visible: bool) -> None:
        if visible:
            self._ensure_review()

    def _case_id(self) -> str:
        series = self.series
        if series is None:
            return ""
        if series.series_uid:
            return str(series.series_uid)  # a DICOM UID, as the review store expects
        from lungview.review import content_case_id

        return content_case_id(Path(series.source))

    def _reading_panel(self) -> Any:
        """Where readings go: the study's panel during a reader study, else the Reading
        dock's (None until that is first shown)."""
        return self.study_mode.panel if self.study_mode is not None else self.review_panel

    def _update_review_context(self) -> None:
        panel = self._reading_panel()
        if panel is None or self.series is None:
            return
        method = self.ai_panel.method()
        key = (self._case_id(), method)
        try:
            if self.study_mode is not None:  # the study view sets its case and map
                self.study_mode.view.set_slice(self.slice_index)
            elif getattr(self, "_review_key", None) != key:
                self._review_key = key
                label = (f"case {self._case_number}" if self.presentation
                         else self._case_name())
                panel.set_context(key[0], label, str(self.series.source), self.slice_index,
                                  method, self.ai.identity.get("version"))
            else:
                panel.set_slice(self.slice_index)
            if self.ai.identity:
                ident = self.ai.identity
                panel.set_model(ident.get("name"), ident.get("version"), ident.get("sha256"))
            prediction = self.current_prediction()
            if prediction is not None:
                panel.set_prediction(prediction.label,
                                     float(prediction.probabilities[prediction.label]),
                                     self.ai_panel.target())
        except Exception as exc:  # noqa: BLE001 - a reading problem must not stop viewing
            self._report_error(f"Reading panel: {exc}")
        self._on_regions_changed(panel.regions())

    @Slot(float, float, float, float)
    def _on_region_drawn(self, r0: float, c0: float, r1: float, c1: float) -> None:
        panel = self.study_mode.panel if self.study_mode is not None else self._ensure_review()
        if panel is None:
            return
        from lungview.review import Region

        if self.study_mode is None:
            self.review_dock.show()
        try:
            panel.add_region(Region.box(r0, c0, r1, c1, self.slice_index))
        except Exception as exc:  # noqa: BLE001 - typed ReadingValueError in practice
            self._report_error(f"Region not added: {exc}")

    @Slot(list)
    def _on_regions_changed(self, regions: list) -> None:
        boxes = []
        for region in regions:
            rows = [p[0] for p in region.points]
            cols = [p[1] for p in region.points]
            boxes.append((min(rows), min(cols), max(rows), max(cols)))
        self.view.set_regions(boxes)
        # after the panel has finished its own update (it drops old metrics on a change)
        QTimer.singleShot(0, self._compute_region_metrics)

    @Slot()
    def _compute_region_metrics(self) -> None:
        """Pointing game and energy-in-region of every map of this slice, for the panel."""
        panel = self._reading_panel()
        if panel is None:
            return
        regions = panel.regions()
        if not regions:
            return
        from lungview.errors import ExplainError
        from lungview.explain.metrics import energy_in_region, pointing_game

        shapes = [(region.points[0][0], region.points[0][1], region.points[1][0],
                   region.points[1][1]) if region.kind == "box"
                  else np.asarray(region.points, dtype=np.float64) for region in regions]

        metrics = {}
        for (key, index, name, target), cam in self._cams.items():
            if key == self.series_key() and index == self.slice_index and \
                    target == self.ai_panel.target() and not cam.flat:
                try:
                    hits = [pointing_game(cam.heatmap, r) for r in shapes]
                    energy = sum(energy_in_region(cam.heatmap, r) for r in shapes)
                except ExplainError:  # a region outside the image: nothing to score
                    continue
                metrics[name] = {"pointing": any(hits), "energy": min(1.0, energy)}
        if metrics and self.study_mode is not None:
            self.study_mode.view.set_region_metrics(metrics)  # under the blinded names
        elif metrics:
            panel.set_region_metrics(metrics, self.ai_panel.method_titles)

    @Slot(str)
    def _on_review_save_failed(self, reason: str) -> None:
        self.statusBar().showMessage(f"Reading not saved: {reason}", 15000)

    # ------------------------------------------------------------ reader study
    def start_study(self, name: str, worklist: str | Path | None, reviewer: str) -> bool:
        """Open (or resume) the reader study ``name``; a new one needs a ``worklist``
        (folder of cases or list file). Returns False, with a banner saying why, when
        the study cannot start."""
        from lungview.errors import LungviewError
        from lungview.ui.study_mode import StudyMode

        if not name:
            self._report_error("A reader study needs a name")
            return False
        if self._ensure_review() is None:
            return False
        try:
            from lungview.ui.study_view import open_study

            study = open_study(self.review_store, name, worklist)
        except (LungviewError, OSError, ValueError) as exc:
            self._report_error(f"Reader study {name!r} not started: {exc}")
            return False
        if self.study_mode is not None:
            self.end_study()
        self.review_dock.hide()
        self.study_mode = StudyMode(self, self.review_store, study, reviewer)
        self.study_mode.start()
        self.refresh_captions()
        return True

    @Slot()
    def end_study(self) -> None:
        """Back to the normal viewer (every reading is already saved)."""
        if self.study_mode is None:
            return
        self.study_mode.close()
        self.study_mode = None
        self._review_key = None
        self.refresh_captions()
        self._update_review_context()

    @Slot()
    def choose_study(self) -> None:
        from lungview.ui.study_mode import StudyDialog

        from lungview.review import Study

        if self._ensure_review() is None:
            return
        dialog = StudyDialog(self, Study.names(self.review_store))
        if dialog.exec():
            self.start_study(*dialog.values())

    # ------------------------------------------------------------ help/recent
    @Slot()
    def show_shortcuts(self) -> None:
        if self._shortcuts is None:
            self._shortcuts = ShortcutsDialog(self)
        self._shortcuts.show()
        self._shortcuts.raise_()

    @Slot()
    def show_about(self) -> None:
        show_about(self)

    @Slot()
    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open image or DICOM file", "",
            "Images and DICOM (*.dcm *.dicom *.ima *.png *.jpg *.jpeg *.tif *.tiff *.bmp);;"
            "All files (*)")
        if path:
            self.open_path(path)

    @Slot()
    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open folder (DICOM series)")
        if path:
            self.open_path(path)

    @Slot(QAction)
    def on_recent_triggered(self, action: QAction) -> None:
        path = action.data()
        if path:
            self.open_path(str(path))

    @Slot()
    def clear_recent(self) -> None:
        self.recent.clear()
        chrome.rebuild_recent_menu(self)

    # ----------------------------------------------------------------- events
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _dropped_path(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: ANN001 - QDragMoveEvent
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        path = _dropped_path(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_path(path)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self.firstShown.emit()
            if self.ai_enabled:  # TensorFlow loads on the worker, after the first paint
                QTimer.singleShot(0, self.ai.start)

    def closeEvent(self, event: QCloseEvent) -> None:
        # A worker still reading must finish before its signals' receivers go away.
        self.runner.shutdown()
        self.ai.shutdown()
        if self.review_panel is not None:
            self.review_panel.flush()
        if self.study_mode is not None:
            self.study_mode.panel.flush()
        if self._grid is not None:
            self._grid.close()
        if self._shortcuts is not None:
            self._shortcuts.close()
        super().closeEvent(event)


def _dropped_path(event: QDropEvent | QDragEnterEvent) -> str | None:
    """The first local file or folder in a drag, or None."""
    mime = event.mimeData()
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile() and url.toLocalFile():
            return url.toLocalFile()
    return None
