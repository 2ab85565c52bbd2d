"""Reader-study mode in the real window (tiny model): the worklist opens case by case, the
map on screen is named only by its blinded label until its reading is done, the method
switcher and grid are hidden, a drawn box is scored under the blinded name, and closing
and reopening the study resumes where the reader left off."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from tests.ui.helpers import drag, viewport_pos
from tests.ui.test_ai import AI_TIMEOUT_MS, _window

pytest.importorskip("tensorflow")


@pytest.fixture
def worklist(tmp_path, demo_jpegs):
    """Two cases whose file names carry the diagnosis, as IQ-OTH/NCCD's do."""
    folder = tmp_path / "worklist"
    folder.mkdir()
    for source in demo_jpegs[:2]:
        shutil.copy(source, folder / source.name)
    return folder


def _start(qtbot, win, worklist, name="pilot"):
    with qtbot.waitSignal(win.caseLoaded, timeout=AI_TIMEOUT_MS):
        assert win.start_study(name, worklist, "dr. a"), win.banners.messages()
    qtbot.waitUntil(lambda: win.current_cam() is not None, timeout=AI_TIMEOUT_MS)


def _visible_text(win) -> str:
    return " ".join([win.windowTitle(), win.view.overlay_text(), win.ai_panel.map_label.text(),
                     " ".join(win.export_lines()), win.statusBar().currentMessage()])


def test_study_blinds_method_and_case_until_the_reading_is_done(qtbot, worklist):
    win = _window(qtbot)
    _start(qtbot, win, worklist)
    study = win.study_mode.view
    blinded = study.current_map()
    assert blinded is not None and not blinded.revealed
    assert win.ai_panel.method() == blinded.method  # the window shows the study's map
    assert win.current_cam().method == blinded.method
    text = _visible_text(win)
    assert blinded.label in text and "Case 1 of 2" in text
    titles = win.ai_panel.method_titles
    assert titles[blinded.method] not in text and blinded.method not in text
    assert "Bengin" not in text and "Malignant" not in text and "Normal case" not in text
    assert win.ai_panel.method_combo.isHidden() and win.ai_panel.grid_button.isHidden()
    for dock in (win.study_mode.dock, win.ai_dock):  # both laid out in the window
        assert dock.isVisible() and win.rect().contains(dock.geometry()), dock.geometry()
    win.show_grid()
    assert win._grid is None  # the grid would name every method

    # a box drawn on the image goes to the study's reading, scored under "Map X"
    win.region_action.setChecked(True)
    qtbot.wait(50)
    assert not win.review_dock.isVisible()  # the study has its own reading panel
    drag(win.view.viewport(), viewport_pos(win.view, 150, 150),
         viewport_pos(win.view, 300, 300), Qt.MouseButton.LeftButton)
    panel = study.panel
    assert len(panel.regions()) == 1
    qtbot.waitUntil(lambda: panel.metrics_table.rowCount() >= 1)
    names = [panel.metrics_table.item(r, 0).text() for r in range(panel.metrics_table.rowCount())]
    assert any(n.startswith(blinded.label) for n in names)
    assert not any(blinded.method in n for n in names)

    # the reading is stored for this study, reader and slice; done reveals the method
    panel.comment_edit.setPlainText("focus on the lesion")
    panel.done_box.setChecked(True)
    qtbot.waitUntil(lambda: study.map_revealed(blinded.method))
    assert blinded.method in win.ai_panel.map_label.text()
    readings = win.review_store.readings(study="pilot", reviewer="dr. a")
    assert [(r.key.method, r.comment, r.key.slice_index) for r in readings] == [
        (blinded.method, "focus on the lesion", win.slice_index)]

    # the next map of the case replaces the method on screen, blinded again
    study.next_unread()
    second = study.current_map()
    assert second.method != blinded.method and not second.revealed
    qtbot.waitUntil(lambda: win.current_cam() is not None
                    and win.current_cam().method == second.method, timeout=AI_TIMEOUT_MS)
    assert second.method not in win.ai_panel.map_label.text()

    # ending the study restores the switcher; nothing of the study leaked into Recent
    win.end_study()
    assert win.study_mode is None and not win.ai_panel.method_combo.isHidden()
    assert win.recent.paths() == []


def test_study_resumes_after_close_and_next_case_opens(qtbot, worklist):
    win = _window(qtbot)
    _start(qtbot, win, worklist)
    study = win.study_mode.view
    first_case = study.current_case()
    for _ in range(len(study.study.methods)):  # read every map of case 1
        study.panel.done_box.setChecked(True)
        qtbot.waitUntil(lambda: study.current_map().revealed)
        with qtbot.waitSignal(study.mapRequested, timeout=AI_TIMEOUT_MS, raising=False):
            study.next_unread()
    qtbot.waitUntil(lambda: study.current_case() != first_case, timeout=AI_TIMEOUT_MS)
    qtbot.waitUntil(lambda: win.case is not None and Path(win.case.path).name
                    == Path(study.current_case().source_path).name, timeout=AI_TIMEOUT_MS)
    assert "Case 2 of 2" in win.windowTitle()
    win.close()

    again = _window(qtbot)
    _start(qtbot, again, None)  # an existing study needs no worklist
    resumed = again.study_mode.view
    assert resumed.current_case().case_id == study.current_case().case_id
    assert resumed.progress_bar.value() == 1


def test_a_study_that_cannot_start_says_why(qtbot, tmp_path):
    win = _window(qtbot)
    assert not win.start_study("nothing", None, "dr. a")  # new study, no worklist
    assert not win.start_study("empty", tmp_path, "dr. a")  # no cases in the folder
    messages = " ".join(win.banners.messages())
    assert "nothing" in messages and "empty" in messages and "no image" in messages
    assert win.study_mode is None


def test_a_reading_is_keyed_by_the_slice_on_screen(qtbot, tmp_path, demo_case):
    folder = tmp_path / "worklist"
    shutil.copytree(demo_case, folder / "case-01")
    win = _window(qtbot)
    _start(qtbot, win, folder)
    win.set_slice(2)
    panel = win.study_mode.panel
    panel.comment_edit.setPlainText("seen on slice 3")
    panel.flush()
    readings = win.review_store.readings(study="pilot", reviewer="dr. a")
    assert [(r.comment, r.key.slice_index) for r in readings] == [("seen on slice 3", 2)]
