"""Reader-study view: blinded stable order, names hidden until done, progress and resume."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QLabel, QListWidget, QTableWidget

from lungview.errors import ReviewStoreError
from lungview.review import METHODS, ReviewStore, Study, WorkItem
from lungview.ui.study_view import StudyView, open_study

READER = "dr. a"


def cid(n: int) -> str:
    return "sha256:" + hashlib.sha256(str(n).encode()).hexdigest()


def worklist(n: int = 3) -> list[WorkItem]:
    return [WorkItem(cid(i), f"Malignant case ({i}).jpg", f"/cases/{i}.jpg") for i in range(n)]


def visible_texts(widget) -> list[str]:
    """Every text a reader can see in the view: labels, buttons, list rows, table cells."""
    texts = [w.text() for w in widget.findChildren(QLabel) if w.isVisible()]
    texts += [w.text() for w in widget.findChildren(QAbstractButton) if w.isVisible()]
    for lst in widget.findChildren(QListWidget):
        texts += [lst.item(i).text() for i in range(lst.count())]
    for table in widget.findChildren(QTableWidget):
        if table.isVisible():
            texts += [table.item(r, c).text() for r in range(table.rowCount())
                      for c in range(table.columnCount()) if table.item(r, c)]
    return texts


def named_methods(widget) -> set[str]:
    """The methods whose names appear anywhere on screen (longest names first, so that
    "gradcam" inside "gradcam++" is not counted)."""
    found = set()
    for text in visible_texts(widget):
        for method in sorted(METHODS, key=len, reverse=True):
            if method in text:
                found.add(method)
                text = text.replace(method, "")
    return found


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "reviews.sqlite3"


def make_view(qtbot, store, name="pilot", reviewer=READER, items=None, seed=1234):
    study = open_study(store, name, items if items is not None else worklist(), seed=seed)
    view = StudyView(store, study, reviewer)
    qtbot.addWidget(view)
    view.show()
    return view


def label_to_method(view) -> dict[str, str]:
    return {m.label: m.method for m in view.study.maps(view.current_case().case_id, READER)}


def test_blinded_order_is_stable_per_reader_and_case_and_differs_between_cases(qtbot, db):
    store = ReviewStore(db)
    view = make_view(qtbot, store)
    requested = []
    view.mapRequested.connect(lambda method, label: requested.append(
        (view.current_case().case_id, label, method)))
    view.start()
    orders = []
    for index in range(3):
        view.go_to_case(index)
        orders.append([(m.label, m.method) for m in view._maps])
    assert len({tuple(o) for o in orders}) > 1  # 1 in 5040 to fail per pair
    assert all(sorted(m for _, m in o) == sorted(METHODS) for o in orders)
    # the window is asked to compute the method behind the letter shown
    assert len(requested) == 4
    for case_id, label, method in requested:
        assert (label, method) in orders[[c.case_id for c in view.study.cases].index(case_id)]
    view.close()
    store.close()
    # reopened (another process, another day): the same letters stand for the same methods
    store = ReviewStore(db)
    again = make_view(qtbot, store)
    again.start()
    for index, order in enumerate(orders):
        again.go_to_case(index)
        assert [(m.label, m.method) for m in again._maps] == order
        assert [again.map_list.item(i).text() for i in range(len(order))] == \
            [label for label, _ in order]
    with qtbot.waitSignal(again.mapRequested) as picked:
        again.map_list.setCurrentRow(2)
    assert picked.args == [orders[2][2][1], orders[2][2][0]]
    store.close()


def test_method_names_are_hidden_until_the_reading_is_done(qtbot, db):
    store = ReviewStore(db)
    view = make_view(qtbot, store)
    with qtbot.waitSignal(view.caseRequested) as case, \
            qtbot.waitSignal(view.mapRequested) as first:
        view.start()
    assert case.args == ["/cases/0.jpg", -1]  # no earlier reading: the window picks
    method, label = first.args
    assert label == "Map A" and method == view.study.method_order(cid(0))[0]
    view.set_region_metrics({m: {"pointing": True, "energy": 0.5} for m in METHODS})
    texts = visible_texts(view)
    assert named_methods(view) == set(), texts
    assert not any("Malignant" in t for t in texts)  # file names carry the diagnosis
    assert any("Map A" in t for t in texts) and any("Case 1 of 3" in t for t in texts)

    # typing saves at once but does not reveal (else the first letter would unblind it)
    qtbot.keyClicks(view.panel.comment_edit, "focus on the mass")
    qtbot.mouseClick(view.panel.focus_row.buttons[0], Qt.MouseButton.LeftButton)
    assert named_methods(view) == set()
    assert not view.map_revealed(method)

    view.panel.done_box.click()  # saved as done -> revealed
    assert view.map_revealed(method)
    assert named_methods(view) == {method}
    assert any("Map A was made by" in t and method in t for t in visible_texts(view))
    # the other maps stay hidden, also in the metrics table
    view.map_list.setCurrentRow(1)
    assert named_methods(view) == {method}
    store.close()


def test_names_stay_hidden_while_done_cannot_be_saved(qtbot, db):
    ReviewStore(db).close()
    with ReviewStore(db) as rw:
        open_study(rw, "pilot", worklist(), seed=7)
    ro = ReviewStore(db, read_only=True)
    view = StudyView(ro, Study.open(ro, "pilot"), READER)
    qtbot.addWidget(view)
    view.show()
    view.start()
    method = view.current_map().method
    view.panel.done_box.click()
    assert view.panel.status.text().startswith("Not saved")
    assert not view.map_revealed(method) and named_methods(view) == set()
    view.close()
    ro.close()


def test_progress_and_resume_where_left_off(qtbot, db):
    store = ReviewStore(db)
    view = make_view(qtbot, store, items=worklist(2))
    view.start()
    # finish every map of case 1, and two maps of case 2
    for _ in METHODS:
        view.panel.done_box.click()
        view.next_unread()
    assert view.current_case().case_id == cid(1)
    assert view.progress_bar.value() == 1
    view.set_slice(5)  # the window chose slice 6 of this case
    view.panel.done_box.click()
    view.next_unread()
    second_done_label = view.current_map().label
    qtbot.keyClicks(view.panel.comment_edit, "half way")
    assert "1 of 2 cases done" in view.progress_label.text()
    assert "1 of 7 maps done here" in view.progress_label.text()
    view.close()
    store.close()

    store = ReviewStore(db)
    again = make_view(qtbot, store, items=worklist(2))
    with qtbot.waitSignal(again.caseRequested) as case:
        again.start()
    assert again.current_case().case_id == cid(1)
    assert case.args == ["/cases/1.jpg", 5]  # back on the slice of the earlier reading
    # the first map not done is the one that was being typed in
    assert again.current_map().label == second_done_label
    assert again.panel.comment_edit.toPlainText() == "half way"
    assert again.progress_bar.value() == 1
    with qtbot.waitSignal(again.finished):
        for _ in range(len(METHODS) - 1):
            again.panel.done_box.click()
            again.next_unread()
    assert again.study.progress(READER).done == 2
    assert "study complete" in again.progress_label.text()
    # another reader starts from the beginning, with the same blinded order
    other = StudyView(store, again.study, "dr. b")
    qtbot.addWidget(other)
    other.start()
    assert other.current_case().case_id == cid(0)
    assert other.current_map().method == again.study.method_order(cid(0))[0]
    store.close()


def test_open_study_from_a_folder_and_errors(qtbot, db, tmp_path):
    folder = tmp_path / "cases"
    folder.mkdir()
    for name in ("b.png", "a.png"):
        (folder / name).write_bytes(name.encode())
    store = ReviewStore(db)
    study = open_study(store, "folder-study", folder, methods=["gradcam", "scorecam"])
    assert [c.case_label for c in study.cases] == ["a.png", "b.png"]
    assert open_study(store, "folder-study").seed == study.seed  # reopened, not recreated
    with pytest.raises(ReviewStoreError, match="no study named"):
        open_study(store, "missing")
    view = StudyView(store, study, READER)
    qtbot.addWidget(view)
    view.start()
    assert view.map_list.count() == 2
    store.close()
