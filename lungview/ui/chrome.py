"""The window's chrome: menus, toolbar, docks and status bar of :class:`MainWindow`.

Kept apart from main_window.py so that file holds behaviour and this one layout. Every
connection targets a ``@Slot`` method of the window (no lambdas holding widgets).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QIcon, QKeySequence, QStandardItemModel
from PySide6.QtWidgets import (QComboBox, QDockWidget, QLabel, QProgressBar, QSizePolicy,
                               QToolBar)

from lungview.explain import METHOD_NAMES, REGISTRY
from lungview.ui.ai_panel import AiPanel
from lungview.ui.panels import SeriesList, TagBrowser
from lungview.ui.readouts import PRESETS, RESEARCH_NOTICE
from lungview.ui.resources import APP_ICON

if TYPE_CHECKING:
    from lungview.ui.main_window import MainWindow

_BADGE_STYLE = ("QLabel { background:#6b5410; color:#fff6d5; border-radius:3px;"
                " padding:1px 6px; font-weight:bold; }")
_RESEARCH_STYLE = ("QLabel { background:#3a1f5c; color:#f1e6ff; border-radius:3px;"
                   " padding:1px 6px; font-weight:bold; }")


def build_chrome(w: MainWindow) -> None:
    """Create menus, toolbar, docks and status bar widgets as attributes of ``w``."""
    if APP_ICON.is_file():
        w.setWindowIcon(QIcon(str(APP_ICON)))
    _build_docks(w)
    _build_actions(w)
    _build_menus(w)
    _build_toolbar(w)
    _build_status_bar(w)
    rebuild_recent_menu(w)


def _action(w: MainWindow, text: str, slot, shortcut: str | list | None = None,
            checkable: bool = False, tip: str = "") -> QAction:
    action = QAction(text, w)
    if shortcut:
        keys = shortcut if isinstance(shortcut, list) else [shortcut]
        action.setShortcuts([QKeySequence(k) for k in keys])
    action.setCheckable(checkable)
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    (action.toggled if checkable else action.triggered).connect(slot)
    w.addAction(action)  # shortcuts work with the menus closed
    return action


def _build_actions(w: MainWindow) -> None:
    w.open_file_action = _action(w, "Open file\u2026", w.choose_file, "Ctrl+O",
                                 tip="Open an image or DICOM file")
    w.open_folder_action = _action(w, "Open folder\u2026", w.choose_folder, "Ctrl+Shift+O",
                                   tip="Open a folder of DICOM files (one or more series)")
    w.quit_action = _action(w, "Quit", w.close, "Ctrl+Q")
    w.reset_action = _action(w, "Reset view", w.reset_view, "R",
                             tip="Fit the slice to the window (R)")
    w.zoom_in_action = _action(w, "Zoom in", w.zoom_in, ["+", "=", "Ctrl++"])
    w.zoom_out_action = _action(w, "Zoom out", w.zoom_out, ["-", "Ctrl+-"])
    w.pan_action = _action(w, "Pan", w.set_pan_mode, "P", checkable=True,
                           tip="Left-drag pans the image (P); middle-drag always pans")
    w.measure_action = _action(w, "Measure", w.set_measure_mode, "M", checkable=True,
                               tip="Left-drag measures a distance (M)")
    tools = QActionGroup(w)
    tools.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
    tools.addAction(w.pan_action)
    tools.addAction(w.measure_action)
    w.region_action = _action(w, "Draw lesion box", w.set_region_mode, "B", checkable=True,
                              tip="Left-drag draws a lesion box for the reading (B)")
    tools.addAction(w.region_action)
    w.presentation_action = _action(w, "Presentation mode (hide patient identifiers)",
                                    w.set_presentation, checkable=True)
    w.presentation_action.setChecked(w.presentation)
    w.shortcuts_action = _action(w, "Keyboard shortcuts", w.show_shortcuts, "F1")
    w.heatmap_action = _action(w, "Show heatmap", w.toggle_heatmap, "H",
                               tip="Show or hide the AI heatmap (H)")
    w.grid_action = _action(w, "All CAM methods\u2026", w.show_grid, "G",
                            tip="All methods side by side for this slice (G)")
    w.export_action = _action(w, "Export view as PNG\u2026", w.choose_export, "Ctrl+E",
                              tip="Slice, heatmap, legend, method, class, model version")
    w.suspicious_action = _action(w, "Go to most suspicious slice", w.jump_to_suspicious,
                                  "S")
    w.about_action = _action(w, "About lungview", w.show_about)
    w.preset_actions = QActionGroup(w)
    for index, preset in enumerate(PRESETS):
        action = QAction(preset.label, w)
        action.setShortcut(QKeySequence(str(index + 1)))
        action.setData(index)
        w.addAction(action)
        w.preset_actions.addAction(action)
    w.preset_actions.setExclusive(False)
    w.preset_actions.triggered.connect(w.on_preset_action)


def _build_menus(w: MainWindow) -> None:
    bar = w.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addAction(w.open_file_action)
    file_menu.addAction(w.open_folder_action)
    w.recent_menu = file_menu.addMenu("Recent files")
    w.recent_menu.triggered.connect(w.on_recent_triggered)
    file_menu.addAction(w.export_action)
    file_menu.addSeparator()
    file_menu.addAction(_action(w, "Reader study\u2026", w.choose_study, None,
                                tip="Start or resume a blinded reader study on a worklist"))
    file_menu.addAction(_action(w, "End reader study", w.end_study, None))
    file_menu.addSeparator()
    file_menu.addAction(w.quit_action)
    view_menu = bar.addMenu("&View")
    presets_menu = view_menu.addMenu("Window presets")
    for action in w.preset_actions.actions():
        presets_menu.addAction(action)
    view_menu.addAction(w.reset_action)
    view_menu.addAction(w.zoom_in_action)
    view_menu.addAction(w.zoom_out_action)
    view_menu.addSeparator()
    view_menu.addAction(w.pan_action)
    view_menu.addAction(w.measure_action)
    view_menu.addSeparator()
    view_menu.addAction(w.tags_action)
    view_menu.addAction(w.series_dock.toggleViewAction())
    view_menu.addAction(w.presentation_action)
    ai_menu = bar.addMenu("&AI")
    ai_menu.addAction(w.ai_dock.toggleViewAction())
    ai_menu.addAction(w.heatmap_action)
    ai_menu.addAction(w.grid_action)
    ai_menu.addAction(w.suspicious_action)
    ai_menu.addAction(w.export_action)
    ai_menu.addSeparator()
    ai_menu.addAction(w.review_dock.toggleViewAction())
    ai_menu.addAction(w.region_action)
    help_menu = bar.addMenu("&Help")
    help_menu.addAction(w.shortcuts_action)
    help_menu.addAction(w.about_action)


def _build_toolbar(w: MainWindow) -> None:
    bar = QToolBar("Tools")
    bar.setObjectName("tools")
    bar.setMovable(False)
    w.addToolBar(bar)
    bar.addAction(w.open_file_action)
    bar.addAction(w.open_folder_action)
    bar.addSeparator()
    bar.addWidget(QLabel(" Window: "))
    w.preset_combo = QComboBox()
    w.preset_combo.setAccessibleName("Window preset")
    for index, preset in enumerate(PRESETS):
        w.preset_combo.addItem(f"{index + 1}  {preset.label}")
    w.preset_combo.addItem("Custom (right-drag)")
    _set_item_enabled(w.preset_combo, len(PRESETS), False)  # shown, never picked
    w.preset_combo.setCurrentIndex(0)
    w.preset_combo.activated.connect(w.apply_preset)
    bar.addWidget(w.preset_combo)
    bar.addSeparator()
    bar.addAction(w.reset_action)
    bar.addAction(w.pan_action)
    bar.addAction(w.measure_action)
    bar.addAction(w.region_action)
    bar.addAction(w.tags_action)


def _build_docks(w: MainWindow) -> None:
    w.series_list = SeriesList()
    w.series_dock = QDockWidget("Series", w)
    w.series_dock.setObjectName("series")
    w.series_dock.setWidget(w.series_list)
    w.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, w.series_dock)
    w.series_dock.hide()  # shown when a folder holds several series
    w.tag_browser = TagBrowser()
    w.tags_dock = QDockWidget("DICOM tags", w)
    w.tags_dock.setObjectName("tags")
    w.tags_dock.setWidget(w.tag_browser)
    w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, w.tags_dock)
    w.tags_dock.hide()
    w.tags_action = w.tags_dock.toggleViewAction()
    w.tags_action.setText("Tags")
    w.tags_action.setToolTip("Show the DICOM tag browser (Ctrl+T)")
    w.tags_action.setShortcut(QKeySequence("Ctrl+T"))
    w.addAction(w.tags_action)
    w.ai_panel = AiPanel(METHOD_NAMES, {n: m.title for n, m in REGISTRY.items()})
    w.ai_dock = QDockWidget("AI (research use only)", w)
    w.ai_dock.setObjectName("ai")
    w.ai_dock.setWidget(w.ai_panel)
    w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, w.ai_dock)
    w.ai_dock.setVisible(w.ai_enabled)
    # The reading panel (lungview.ui.review_panel) is created when first shown: opening
    # the review database is not part of start-up.
    w.review_dock = QDockWidget("Reading", w)
    w.review_dock.setObjectName("reading")
    w.review_dock.setWidget(QLabel("  Show this panel to record a reading."))
    w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, w.review_dock)
    w.tabifyDockWidget(w.ai_dock, w.review_dock)
    w.ai_dock.raise_()
    w.review_dock.hide()
    w.review_dock.visibilityChanged.connect(w._on_review_visibility)


def _build_status_bar(w: MainWindow) -> None:
    status = w.statusBar()
    w.readout_label = QLabel()
    w.readout_label.setMinimumWidth(240)
    w.wl_label = QLabel()
    w.wl_label.setToolTip("Window width and level (right-drag to change)")
    w.badge_label = QLabel()
    w.badge_label.setStyleSheet(_BADGE_STYLE)
    w.badge_label.hide()
    w.progress = QProgressBar()
    w.progress.setMaximumWidth(160)
    w.progress.hide()
    w.research_label = QLabel(RESEARCH_NOTICE)
    w.research_label.setStyleSheet(_RESEARCH_STYLE)
    w.research_label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
    for widget in (w.readout_label, w.wl_label, w.badge_label, w.progress, w.research_label):
        status.addPermanentWidget(widget)


def rebuild_recent_menu(w: MainWindow) -> None:
    """Refill File > Recent files from the settings (file names only when presenting)."""
    menu = w.recent_menu
    menu.clear()
    paths = w.recent.paths()
    for path in paths:
        action = menu.addAction(Path(path).name if w.presentation else path)
        action.setData(path)
    if not paths:
        menu.addAction("(none)").setEnabled(False)
    menu.addSeparator()
    clear = menu.addAction("Clear recent files")
    clear.triggered.connect(w.clear_recent)
    clear.setEnabled(bool(paths))


def update_preset_controls(w: MainWindow, hu: bool) -> None:
    """HU presets only make sense for CT in HU; disable them for plain images."""
    for index, preset in enumerate(PRESETS):
        enabled = hu or not preset.hu_only
        _set_item_enabled(w.preset_combo, index, enabled)
        w.preset_actions.actions()[index].setEnabled(enabled)
    sync_preset_combo(w)


def sync_preset_combo(w: MainWindow) -> None:
    w.preset_combo.blockSignals(True)
    w.preset_combo.setCurrentIndex(w.preset_index)
    w.preset_combo.blockSignals(False)


def _set_item_enabled(combo: QComboBox, row: int, enabled: bool) -> None:
    model = combo.model()
    if isinstance(model, QStandardItemModel):
        model.item(row).setEnabled(enabled)

