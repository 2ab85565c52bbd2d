"""The real viewer window driven like a user: open, scroll, presets, readout, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from lungview.ui.qimage import qimage_to_array
from lungview.ui.readouts import BONE, FROM_FILE, LUNG, MEDIASTINUM, NON_DICOM_BADGE
from tests.ui.helpers import (drag, open_and_fail, open_and_wait, send_mouse, send_wheel,
                              viewport_pos)

ROOT = Path(__file__).resolve().parents[2]


def _hu_from_file(path: Path, row: int, col: int) -> float:
    """HU of one pixel computed with pydicom directly (independent of lungview.io)."""
    import pydicom

    ds = pydicom.dcmread(str(path))
    return float(ds.pixel_array[row, col]) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def _shown(win) -> np.ndarray:
    return qimage_to_array(win.view.image())


def test_empty_window_title_notice_and_hint(window):
    assert window.windowTitle() == "lungview"
    assert window.research_label.isVisible()
    assert "Research use only" in window.research_label.text()
    assert "Open" in window.view.overlay_text()


def test_open_series_scroll_keys_and_slider(qtbot, window, demo_case):
    case = open_and_wait(qtbot, window, demo_case)
    series = case.result.series[0]
    assert len(series) == 10 and series.hu
    assert window.windowTitle().startswith("lungview \u2014 ")
    assert window.slice_index == 5  # opens at the middle slice
    first = _shown(window)
    send_wheel(window.view.viewport(), -1)  # towards the user: next slice
    assert window.slice_index == 6
    assert not np.array_equal(_shown(window), first)
    send_wheel(window.view.viewport(), 2)
    assert window.slice_index == 4
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_End)
    assert window.slice_index == 9 and window.slider.value() == 9
    qtbot.keyClick(window.view, Qt.Key.Key_Home)
    assert window.slice_index == 0
    qtbot.keyClick(window.view, Qt.Key.Key_Down)
    assert window.slice_index == 1
    qtbot.keyClick(window.view, Qt.Key.Key_PageDown)
    assert window.slice_index == 9  # clamped at the last slice
    window.slider.setValue(3)
    assert window.slice_index == 3
    assert "slice 4/10" in window.slice_label.text()
    assert "z 240.0 mm" in window.slice_label.text()  # 264 - 3 * 8 mm


def test_presets_by_key_and_combo_change_the_pixels(qtbot, window, demo_case):
    open_and_wait(qtbot, window, demo_case)
    assert window.preset_index == LUNG and window.wl_label.text() == "W 1500  L -600"
    lung = _shown(window)
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_2)
    assert window.preset_index == MEDIASTINUM
    assert window.wl_label.text() == "W 350  L 40"
    assert window.preset_combo.currentIndex() == MEDIASTINUM
    mediastinum = _shown(window)
    # soft tissue (about 40 HU) is mid-grey in the mediastinal window, bright in lung's
    hu = window.series.pixels(window.slice_index)
    tissue = (hu > 20) & (hu < 60)
    assert tissue.sum() > 100
    assert abs(float(mediastinum[tissue].mean()) - 255 * (40 - (40 - 175)) / 350) < 30
    assert float(lung[tissue].mean()) > float(mediastinum[tissue].mean()) + 20
    window.preset_combo.activated.emit(BONE)
    assert window.wl_label.text() == "W 2000  L 400"
    qtbot.keyClick(window.view, Qt.Key.Key_4)
    assert window.preset_index == FROM_FILE and "(from file)" in window.wl_label.text()
    assert "W 2000" not in window.view.overlay_text()


def test_right_drag_changes_window_to_custom(qtbot, window, demo_case):
    open_and_wait(qtbot, window, demo_case)
    before = window.current_window()
    view = window.view.viewport()
    centre = QPointF(view.rect().center())
    drag(view, centre, centre + QPointF(120, 40), Qt.MouseButton.RightButton)
    centre_after, width_after = window.current_window()
    assert width_after > before[1] and centre_after > before[0]
    assert window.preset_combo.currentIndex() == len(window.preset_actions.actions())
    assert f"W {width_after:.0f}" in window.wl_label.text()


def test_hu_readout_at_a_known_pixel(qtbot, window, demo_case):
    open_and_wait(qtbot, window, demo_case)
    row, col = 300, 256
    expected = _hu_from_file(window.series.slice_path(window.slice_index), row, col)
    pos = viewport_pos(window.view, col, row)
    send_mouse(window.view.viewport(), QEvent.Type.MouseMove, pos)
    assert window.readout_label.text() == f"x {col}, y {row}: HU {expected:.0f}"
    send_wheel(window.view.viewport(), -1)  # the readout follows the slice under the cursor
    expected = _hu_from_file(window.series.slice_path(window.slice_index), row, col)
    assert window.readout_label.text() == f"x {col}, y {row}: HU {expected:.0f}"


def test_jpeg_shows_pixel_values_badge_and_no_hu_presets(qtbot, window, demo_jpegs):
    import cv2

    path = demo_jpegs[0]
    open_and_wait(qtbot, window, path)
    assert window.badge_label.isVisible() and window.badge_label.text() == NON_DICOM_BADGE
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    row, col = gray.shape[0] // 2, gray.shape[1] // 3
    send_mouse(window.view.viewport(), QEvent.Type.MouseMove, viewport_pos(window.view, col, row))
    text = window.readout_label.text()
    assert text.startswith(f"x {col}, y {row}: pixel value ")
    assert abs(float(text.rsplit(" ", 1)[1]) - float(gray[row, col])) <= 2  # JPEG decoders
    assert not window.preset_actions.actions()[LUNG].isEnabled()
    assert "no pixel spacing" in window.view.overlay_text()


def test_broken_file_gives_a_banner_and_the_viewer_keeps_working(qtbot, window, demo_case,
                                                                  tmp_path):
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(b"DICM" + os.urandom(300))
    message = open_and_fail(qtbot, window, broken)
    assert "broken.dcm" in message
    assert any("broken.dcm" in m for m in window.banners.messages())
    assert window.banners.isVisible()
    open_and_wait(qtbot, window, demo_case)  # still usable
    assert window.series is not None and len(window.series) == 10
    assert window.banners.messages() == []  # a new case clears old messages


def test_distance_measurement_in_mm(qtbot, window, demo_case):
    open_and_wait(qtbot, window, demo_case)
    window.measure_action.setChecked(True)
    start, end = viewport_pos(window.view, 100, 200), viewport_pos(window.view, 200, 200)
    drag(window.view.viewport(), start, end, Qt.MouseButton.LeftButton)
    spacing = window.series.pixel_spacing[1]
    length = window.view.measurement_line().length()
    assert abs(length - 100) < 2
    assert window.view.measurement_text() == f"{length * spacing:.1f} mm"
    send_wheel(window.view.viewport(), -1)
    assert not window.view.line_item.isVisible()  # a measurement belongs to its slice
    mm, pixels = window.view.scale_bar()  # the scale bar agrees with the spacing and zoom
    assert pixels == pytest.approx(mm / spacing * window.view.zoom_factor())


def test_zoom_pan_and_reset(qtbot, window, demo_case):
    open_and_wait(qtbot, window, demo_case)
    fitted = window.view.zoom_factor()
    send_wheel(window.view.viewport(), 2, Qt.KeyboardModifier.ControlModifier)
    assert window.view.zoom_factor() > fitted * 1.4
    assert window.slice_index == 5  # Ctrl+wheel zooms, it does not scroll
    centre = window.view.mapToScene(window.view.viewport().rect().center())
    middle = QPointF(window.view.viewport().rect().center())
    drag(window.view.viewport(), middle, middle + QPointF(80, 0), Qt.MouseButton.MiddleButton)
    moved = window.view.mapToScene(window.view.viewport().rect().center())
    assert moved.x() < centre.x() - 10
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_R)
    assert abs(window.view.zoom_factor() - fitted) < 1e-6


def test_tag_browser_search_and_presentation_mode(qtbot, window, demo_case):
    open_and_wait(qtbot, window, demo_case)
    window.tags_action.trigger()
    assert window.tags_dock.isVisible()
    window.tag_browser.search.setText("PatientName")
    rows = window.tag_browser.visible_rows()
    assert rows and rows[0][0] == "(0010,0010)" and rows[0][3] == "Lung_Dx-A0002"
    window.tag_browser.search.setText("0028,0030")
    assert [r[1].strip() for r in window.tag_browser.visible_rows()] == ["PixelSpacing"]
    assert "Lung_Dx-A0002" in window.windowTitle() + window.view.overlay_text()

    window.presentation_action.setChecked(True)
    assert window.windowTitle() == "lungview \u2014 case 1"
    assert "Lung_Dx-A0002" not in window.view.overlay_text()
    window.tag_browser.search.setText("Lung_Dx")
    assert window.tag_browser.visible_rows() == []  # the filter cannot reveal it either
    window.tag_browser.search.setText("PatientID")
    assert window.tag_browser.visible_rows()[0][3] == "(hidden)"
    assert all("Lung_Dx" not in a.text() for a in window.recent_menu.actions())


def test_drop_opens_and_recent_files_remember(qtbot, window, demo_jpegs):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(demo_jpegs[1]))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.caseLoaded, timeout=30_000):
        window.dropEvent(event)  # what Qt calls once the drag enters and is accepted
    assert event.isAccepted()
    assert window.series.kind == "image"
    recent = [a.data() for a in window.recent_menu.actions() if a.data()]
    assert recent and Path(recent[0]).name == demo_jpegs[1].name


def test_shortcut_sheet_lists_the_controls(qtbot, window):
    window.shortcuts_action.trigger()
    text = window._shortcuts.browser.toPlainText()
    for words in ("Right-drag", "Ctrl", "Home", "R"):
        assert words in text
    assert "W1500" in text.replace(" ", "") or "1500" in text


@pytest.mark.slow
def test_app_starts_on_the_demo_with_the_window_before_heavy_imports(tmp_path):
    """``lungview`` with no path: window first (no TF/pydicom yet), then the demo case."""
    log = tmp_path / "startup.jsonl"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LUNGVIEW_STARTUP_LOG=str(log),
               LUNGVIEW_EXIT_AFTER_FIRST_IMAGE="1")
    done = subprocess.run([sys.executable, "-m", "lungview"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    events = {e["event"]: e for e in map(json.loads, log.read_text().splitlines())}
    assert "window_shown" in events and "first_image" in events, events
    assert events["window_shown"]["tensorflow_loaded"] is False
    assert events["window_shown"]["pydicom_loaded"] is False
    assert events["first_image"]["time"] >= events["window_shown"]["time"]
