"""The review panel on a real store: every edit in the database at once, failures kept."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from lungview.review import ReadingKey, Region, ReviewStore
from lungview.ui.review_panel import ReviewPanel
from tests.conftest import ROOT


def cid(n: int) -> str:
    return "sha256:" + hashlib.sha256(str(n).encode()).hexdigest()


CASE = cid(1)


def stored(db: Path, column: str, method: str = "gradcam", reviewer: str = "dr. a",
           slice_index: int = 0):
    """Read one column straight from the file, through a separate connection."""
    conn = sqlite3.connect(db)
    try:
        row = conn.execute(f"SELECT {column} FROM readings WHERE case_id = ? AND method = ? "
                           "AND reviewer = ? AND slice_index = ?",
                           (CASE, method, reviewer, slice_index)).fetchone()
    finally:
        conn.close()
    return None if row is None else row[0]


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "reviews.sqlite3"


def make_panel(qtbot, store: ReviewStore, method: str = "gradcam", slice_index: int = 0,
               reviewer: str = "dr. a") -> ReviewPanel:
    panel = ReviewPanel(store)
    qtbot.addWidget(panel)
    panel.set_context(CASE, "Malignant case (1).jpg", "/data/m1.jpg", slice_index, method,
                      "1.0.0", reviewer, model_name="lungview-tiny")
    panel.show()
    return panel


def test_each_keystroke_is_in_the_database_at_once(qtbot, db):
    store = ReviewStore(db)
    panel = make_panel(qtbot, store)
    assert panel.save_state() in ("idle", "saved")
    panel.comment_edit.setFocus()
    for i, char in enumerate("mass RUL"):
        qtbot.keyClick(panel.comment_edit, char)
        # no event loop turn, no timer: committed before keyClick returned
        assert stored(db, "comment") == "mass RUL"[:i + 1]
    assert panel.save_state() == "saved" and panel.status.text().startswith("Saved")
    assert stored(db, "model_version") == "1.0.0"
    assert stored(db, "model_name") == "lungview-tiny"
    store.close()


def test_browsing_writes_nothing_the_first_edit_registers_the_case(qtbot, db):
    ReviewStore(db).close()
    with ReviewStore(db, read_only=True) as ro:  # browsing works on a read-only disk
        panel = make_panel(qtbot, ro)
        panel.set_context(cid(2), "two", "/data/2.jpg", 0, "scorecam")
        assert panel.save_state() == "idle" and not panel.has_unsaved()
        assert ro.cases() == []
    store = ReviewStore(db)
    panel = make_panel(qtbot, store)
    assert store.cases() == []
    panel.fp_boxes["bone"].click()
    assert [(c.case_id, c.case_label) for c in store.cases()] == [
        (CASE, "Malignant case (1).jpg")]
    store.close()


def test_structured_fields_are_saved_and_can_be_unset(qtbot, db):
    store = ReviewStore(db)
    panel = make_panel(qtbot, store)
    with qtbot.waitSignal(panel.saved, timeout=1000):
        qtbot.mouseClick(panel.focus_row.buttons[1], Qt.MouseButton.LeftButton)  # partial
    assert stored(db, "focus") == "partial"
    qtbot.mouseClick(panel.focus_row.buttons[0], Qt.MouseButton.LeftButton)
    assert stored(db, "focus") == "yes" and not panel.focus_row.buttons[1].isChecked()
    qtbot.mouseClick(panel.usefulness_row.buttons[3], Qt.MouseButton.LeftButton)
    assert stored(db, "usefulness") == 4
    qtbot.mouseClick(panel.usefulness_row.buttons[3], Qt.MouseButton.LeftButton)  # off
    assert stored(db, "usefulness") is None
    panel.set_prediction("Malignant", 0.93)
    qtbot.mouseClick(panel.agreement_row.buttons[1], Qt.MouseButton.LeftButton)
    assert stored(db, "agreement") == "disagree"
    assert stored(db, "predicted_label") == "Malignant"
    assert stored(db, "predicted_prob") == pytest.approx(0.93)
    panel.fp_boxes["bone"].click()
    panel.fp_boxes["mirror"].click()
    assert (stored(db, "fp_bone"), stored(db, "fp_mirror"), stored(db, "fp_heart")) == (1, 1, 0)
    qtbot.keyClicks(panel.missed_edit, "small mets")
    assert stored(db, "missed_lesions") == "small mets"
    panel.missed_count.setValue(2)
    assert stored(db, "missed_count") == 2
    panel.missed_count.setValue(-1)
    assert stored(db, "missed_count") is None
    with qtbot.waitSignal(panel.completedChanged) as done:
        panel.done_box.click()
    assert done.args == [True] and stored(db, "completed_at") is not None
    store.close()


def test_close_and_reopen_shows_the_reading_again(qtbot, db):
    store = ReviewStore(db)
    panel = make_panel(qtbot, store)
    qtbot.keyClicks(panel.comment_edit, "hot spot on the heart")
    qtbot.mouseClick(panel.focus_row.buttons[2], Qt.MouseButton.LeftButton)
    panel.fp_boxes["heart"].click()
    panel.add_region(Region.box(10, 20, 30, 40))
    panel.close()
    store.close()

    store = ReviewStore(db)
    again = make_panel(qtbot, store)
    assert again.comment_edit.toPlainText() == "hot spot on the heart"
    assert again.focus_row.value() == "no"
    assert again.fp_boxes["heart"].isChecked() and not again.fp_boxes["bone"].isChecked()
    assert again.regions() == [Region.box(10, 20, 30, 40)]
    assert "box rows 10\u201330" in again.region_list.item(0).text()
    # another method of the same slice: its own (empty) ratings, the same regions
    again.set_context(CASE, "Malignant case (1).jpg", "/data/m1.jpg", 0, "scorecam")
    assert again.comment_edit.toPlainText() == "" and again.focus_row.value() is None
    assert len(again.regions()) == 1
    # another reviewer: nothing of dr. a's
    again.reviewer_edit.setText("dr. b")
    with qtbot.waitSignal(again.reviewerChanged):
        again.reviewer_edit.editingFinished.emit()
    assert again.key() == ReadingKey(CASE, "scorecam", 0, "dr. b")
    assert again.regions() == []
    store.close()


def test_regions_are_saved_listed_and_removed(qtbot, db):
    store = ReviewStore(db)
    panel = make_panel(qtbot, store, slice_index=3)
    with qtbot.waitSignal(panel.regionsChanged) as changed:
        panel.add_region(Region.box(5, 6, 50, 60))  # slice index taken from the context
    assert changed.args[0] == [Region.box(5, 6, 50, 60, slice_index=3)]
    panel.add_region(Region.polygon([(1, 1), (1, 9), (9, 5)]))
    assert [r.kind for _, _, r in store.regions(CASE, slice_index=3)] == ["box", "polygon"]
    assert panel.region_list.count() == 2
    panel.region_list.setCurrentRow(0)
    with qtbot.waitSignal(panel.regionsChanged) as changed:
        qtbot.mouseClick(panel.remove_region_button, Qt.MouseButton.LeftButton)
    assert [r.kind for r in changed.args[0]] == ["polygon"]
    assert [r.kind for _, _, r in store.regions(CASE, slice_index=3)] == ["polygon"]
    # moving to another slice shows its (no) regions, and says so to the viewer
    with qtbot.waitSignal(panel.regionsChanged) as changed:
        panel.set_slice(4)
    assert changed.args[0] == [] and not panel.remove_region_button.isEnabled()
    store.close()


def test_region_metrics_are_shown_and_stored_with_the_current_method(qtbot, db):
    store = ReviewStore(db)
    panel = make_panel(qtbot, store, method="gradcam++")
    qtbot.keyClicks(panel.comment_edit, "x")
    panel.add_region(Region.box(0, 0, 10, 10))
    panel.set_region_metrics({"gradcam": {"pointing": False, "energy": 0.125},
                              "gradcam++": {"pointing": True, "energy": 0.625}})
    table = panel.metrics_table
    cells = {table.item(r, 0).text(): (table.item(r, 1).text(), table.item(r, 2).text())
             for r in range(table.rowCount())}
    assert cells == {"gradcam": ("miss", "12%"), "gradcam++ \u25c0": ("hit", "62%")}
    assert stored(db, "pointing_hit", "gradcam++") == 1
    assert stored(db, "energy_share", "gradcam++") == pytest.approx(0.625)
    assert stored(db, "pointing_hit", "gradcam") is None  # no reading made for it
    # blinded names replace the method names and order the rows
    panel.set_region_metrics({"gradcam": {"pointing": False, "energy": 0.1},
                              "gradcam++": {"pointing": True, "energy": 0.6}},
                             names={"gradcam++": "Map A", "gradcam": "Map B"})
    assert [table.item(r, 0).text() for r in range(2)] == ["Map A \u25c0", "Map B"]
    # the region is deleted: the window recomputes (nothing) and the stale metric goes
    panel.remove_region(0)
    panel.set_region_metrics({})
    assert stored(db, "pointing_hit", "gradcam++") is None
    assert stored(db, "energy_share", "gradcam++") is None
    assert not table.isVisibleTo(panel)
    store.close()


def test_metrics_of_other_regions_are_never_stored(qtbot, db):
    store = ReviewStore(db)
    panel = make_panel(qtbot, store, method="layercam")
    panel.add_region(Region.box(0, 0, 10, 10))
    panel.set_region_metrics({"layercam": {"pointing": True, "energy": 0.9}})
    panel.set_slice(1)  # other slice, other (no) regions: the metrics went with them
    panel.add_region(Region.box(50, 50, 60, 60))
    qtbot.keyClicks(panel.comment_edit, "slice two")
    assert stored(db, "comment", "layercam", slice_index=1) == "slice two"
    assert stored(db, "pointing_hit", "layercam", slice_index=1) is None
    assert panel.metrics_table.rowCount() == 0
    # the window recomputes for the new region: now they are stored
    panel.set_region_metrics({"layercam": {"pointing": False, "energy": 0.05}})
    assert stored(db, "pointing_hit", "layercam", slice_index=1) == 0
    assert stored(db, "energy_share", "layercam", slice_index=1) == pytest.approx(0.05)
    store.close()


def test_a_value_no_reading_can_hold_is_reported_and_does_not_block_the_rest(qtbot, db):
    store = ReviewStore(db)
    panel = make_panel(qtbot, store)
    panel.set_prediction("Malignant", 1.5)  # a broken probability from upstream
    failures = []
    panel.saveFailed.connect(failures.append)
    qtbot.keyClicks(panel.comment_edit, "ok")
    assert len(failures) == 1 and failures[0].startswith("predicted_prob:")
    assert stored(db, "comment") == "ok" and stored(db, "predicted_label") == "Malignant"
    assert stored(db, "predicted_prob") is None and not panel.has_unsaved()
    store.close()


def test_full_disk_shows_the_reason_keeps_the_text_and_recovers(qtbot, db, monkeypatch):
    monkeypatch.setattr("lungview.ui.review_panel.RETRY_MS", 50)
    store = ReviewStore(db)
    panel = make_panel(qtbot, store)
    qtbot.keyClicks(panel.comment_edit, "before")
    pages = store.query("PRAGMA page_count")[0][0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")  # a real SQLITE_FULL
    big = "mass in the right upper lobe; " * 3000
    with qtbot.waitSignal(panel.saveFailed) as failed:
        panel.comment_edit.setPlainText(big)
    assert "disk is full" in failed.args[0]
    assert panel.status.text().startswith("Not saved") and "disk is full" in panel.status.text()
    assert panel.comment_edit.toPlainText() == big and panel.has_unsaved()
    assert stored(db, "comment") == "before"
    # switching case keeps the unsaved text for its reading; coming back shows it
    panel.set_context(cid(2), "other", "/data/o.jpg", 0, "gradcam")
    panel.set_context(CASE, "Malignant case (1).jpg", "/data/m1.jpg", 0, "gradcam")
    assert panel.comment_edit.toPlainText() == big
    # space again: the retry writes it without another keystroke
    store._conn.execute("PRAGMA max_page_count = 1073741823")
    with qtbot.waitSignal(panel.saved, timeout=3000):
        pass
    assert stored(db, "comment") == big and not panel.has_unsaved()
    assert panel.save_state() == "saved"
    store.close()


def test_read_only_database_keeps_text_and_journal_replays_on_reopen(qtbot, db):
    ReviewStore(db).close()
    ro = ReviewStore(db, read_only=True)
    panel = make_panel(qtbot, ro)
    with qtbot.waitSignal(panel.saveFailed) as failed:
        qtbot.keyClicks(panel.comment_edit, "typed on a read-only disk")
    assert "read-only" in failed.args[0]
    assert "read-only" in panel.status.text()
    assert panel.comment_edit.toPlainText() == "typed on a read-only disk"
    assert ro.pending_count() >= 1  # the store journaled it beside the database
    panel.close()
    ro.close()
    with ReviewStore(db) as rw:
        assert rw.get_reading(ReadingKey(CASE, "gradcam", 0, "dr. a")).comment == \
            "typed on a read-only disk"


def test_when_nothing_can_be_kept_the_message_says_so_and_the_panel_keeps_it(qtbot, db):
    ReviewStore(db).close()
    ro = ReviewStore(db, read_only=True)
    ro.pending_path.mkdir()  # the journal cannot be written either
    panel = make_panel(qtbot, ro)
    qtbot.keyClicks(panel.comment_edit, "only here")
    assert "could not be kept" in panel.status.text()
    assert panel.comment_edit.toPlainText() == "only here" and panel.has_unsaved()
    assert not panel.flush()
    ro.close()


TYPIST = textwrap.dedent("""
    import sys
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication
    from lungview.review import ReviewStore
    from lungview.ui.review_panel import ReviewPanel
    app = QApplication([])
    store = ReviewStore(sys.argv[1])
    panel = ReviewPanel(store)
    panel.set_context(sys.argv[2], "crash", "/crash.png", 0, "gradcam", None, "dr. a")
    panel.show()
    for i in range(100000):
        QTest.keyClick(panel.comment_edit, "abcdefghij"[i % 10])
        if panel.save_state() == "saved":  # what the status line now says
            print(i + 1, flush=True)
""")


def test_killing_the_app_mid_typing_loses_nothing_shown_as_saved(tmp_path):
    db = tmp_path / "crash.sqlite3"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen([sys.executable, "-c", TYPIST, str(db), CASE], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    shown = 0
    try:
        for line in proc.stdout:
            shown = int(line)
            if shown >= 60:
                break
        proc.kill()  # SIGKILL: no closeEvent, no flush, no atexit
    finally:
        proc.kill()
        out, err = proc.communicate(timeout=60)
    assert shown >= 60, err
    shown = max([shown] + [int(ln) for ln in out.split()])
    with ReviewStore(db) as store:
        comment = store.get_reading(ReadingKey(CASE, "gradcam", 0, "dr. a")).comment
        assert store.query("PRAGMA integrity_check")[0][0] == "ok"
    typed = "".join("abcdefghij"[i % 10] for i in range(len(comment)))
    assert len(comment) >= shown and comment == typed
