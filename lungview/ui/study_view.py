"""Reader-study mode: a worklist read map by map, each method blinded until its reading is done.

A reader who knows which method drew a map rates the method, not the map, so the study
shows the CAMs of each case as "Map A", "Map B", ... in an order fixed per study and case
(:meth:`lungview.review.Study.method_order`: the same after a restart, different between
cases) and names a map's method only once its reading is marked done and that is *in the
database*. The case is shown as "Case 3 of 10", not by its file name (the iq-othnccd file
names carry the diagnosis). Progress and resume come from the stored readings, so closing
the app and reopening the study continues at the first map not yet done.

Integration (the main window docks it and does the loading and computing)::

    study = open_study(store, "pilot-2026", worklist=folder_or_list_or_items,
                       identify=...)          # opens the stored study of that name, or
                                              # creates it from the worklist
    view = StudyView(store, study, reviewer="dr. x", parent=None)
    view.caseRequested(str path, int slice)   # open this case; slice -1: your choice
                                              # (e.g. the most suspicious), then call
    view.set_slice(i)                         # ... with the slice on screen
    view.mapRequested(str method, str label)  # compute and show this CAM; show only
                                              # ``label`` (the method is secret until
                                              # view.map_revealed(method) is True)
    view.set_region_metrics({method: {"pointing": bool, "energy": float}})
    view.set_model(name, version); view.set_prediction(label, prob)
    view.panel                                # its ReviewPanel (regions: add_region ...)
    view.finished()                           # every map of every case is done
    view.start()                              # emit the first requests (resume point)

The window must keep the method name out of its own controls (method switcher, overlay
legend, exports, title) while a study map is on screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QProgressBar, QPushButton, QVBoxLayout, QWidget)

from lungview.review import (METHODS, BlindedMap, ReviewStore, StoreError, Study, WorkItem,
                             worklist_from_file, worklist_from_folder)
from lungview.review.study import identify_by_content
from lungview.ui.review_panel import ReviewPanel

_DONE_MARK = "\u2713"


def open_study(store: ReviewStore, name: str,
               worklist: str | Path | Sequence[WorkItem] | None = None,
               methods: Sequence[str] = METHODS, seed: int | None = None,
               identify: Callable[[Path], WorkItem] = identify_by_content) -> Study:
    """The stored study ``name``; created from ``worklist`` when there is none yet.

    ``worklist`` is a folder (each image file or series subfolder is a case), a text file
    listing one path per line, or WorkItems. Raises ``StoreError`` (no such study and no
    worklist), ``LoadError`` (unreadable worklist) or ``ReadingValueError``.
    """
    if name in Study.names(store):
        return Study.open(store, name)
    if worklist is None:
        raise StoreError(store.path, f"no study named {name!r} (give a worklist to start it)")
    if isinstance(worklist, (str, Path)):
        path = Path(worklist)
        items = (worklist_from_folder(path, identify) if path.is_dir()
                 else worklist_from_file(path, identify))
    else:
        items = list(worklist)
    return Study.create(store, name, items, methods, seed)


class StudyView(QWidget):
    """Worklist progress, the blinded maps of the current case, and the reading panel."""

    caseRequested = Signal(str, int)
    mapRequested = Signal(str, str)
    finished = Signal()

    def __init__(self, store: ReviewStore, study: Study, reviewer: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store, self.study, self.reviewer = store, study, reviewer
        self._case_index = -1
        self._slice = -1
        self._maps: list[BlindedMap] = []
        self._map_index = -1
        self._build()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.title = QLabel(f"<b>Reader study: {_html(self.study.name)}</b> \u00b7 reader "
                            f"{_html(self.reviewer or '(unnamed)')}")
        self.title.setWordWrap(True)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, max(1, len(self.study.cases)))
        self.progress_bar.setFormat("%v of %m cases done")
        self.progress_label = QLabel()
        self.map_list = QListWidget()
        row_height = self.map_list.fontMetrics().height() + 6
        self.map_list.setFixedHeight(row_height * max(3, len(self.study.methods))
                                     + 2 * self.map_list.frameWidth() + 4)
        self.map_list.setStyleSheet(f"QListWidget::item {{ height: {row_height}px; }}")
        self.map_list.currentRowChanged.connect(self._map_row_changed)
        self.reveal_label = QLabel("Method names are hidden until a reading is done.")
        self.reveal_label.setWordWrap(True)
        self.prev_button = QPushButton("\u25c0 Previous case")
        self.prev_button.clicked.connect(lambda: self.go_to_case(self._case_index - 1))
        self.next_button = QPushButton("Next case \u25b6")
        self.next_button.clicked.connect(lambda: self.go_to_case(self._case_index + 1))
        self.next_unread_button = QPushButton("Next unread map")
        self.next_unread_button.clicked.connect(self.next_unread)
        nav = QHBoxLayout()
        for button in (self.prev_button, self.next_button, self.next_unread_button):
            button.setAutoDefault(False)
            nav.addWidget(button)

        self.panel = ReviewPanel(self.store)
        self.panel.reviewer_edit.setReadOnly(True)  # the study's reader is fixed
        self.panel.reviewer_edit.setToolTip("Set when the study was opened")
        self.panel.done_box.setText("Reading done \u2013 reveal the method")
        self.panel.completedChanged.connect(self._completed_changed)
        self.panel.saved.connect(lambda _text: self._refresh())

        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)
        layout.addWidget(QLabel("Maps of this case (blinded, in random order)"))
        layout.addWidget(self.map_list)
        layout.addWidget(self.reveal_label)
        layout.addLayout(nav)
        layout.addWidget(self.panel, 1)

    # ------------------------------------------------------------------ navigation
    def start(self) -> None:
        """Go to where the reader left off (the first map not done), or to the first case
        when the study is finished."""
        resume = self.study.resume(self.reviewer)
        if resume is None:
            self.go_to_case(0)
            self.finished.emit()
            return
        item, blinded = resume
        self.go_to_case(self._index_of(item.case_id), blinded.label)

    def _index_of(self, case_id: str) -> int:
        return next(i for i, c in enumerate(self.study.cases) if c.case_id == case_id)

    def go_to_case(self, index: int, map_label: str | None = None) -> None:
        """Show case ``index`` of the worklist at map ``map_label`` (default: its first
        map not done, else its first map) and ask the window to open it."""
        if not 0 <= index < len(self.study.cases):
            return
        self.panel.flush()
        item = self.study.cases[index]
        self._case_index = index
        self._slice = self._earlier_slice(item.case_id)
        self._maps = self.study.maps(item.case_id, self.reviewer)
        labels = [m.label for m in self._maps]
        if map_label in labels:
            row = labels.index(map_label)
        else:
            row = next((i for i, m in enumerate(self._maps) if not m.revealed), 0)
        self._map_index = -1
        self._fill_map_list()
        self.caseRequested.emit(item.source_path, self._slice)
        self.map_list.setCurrentRow(row)  # -> _map_row_changed -> panel + mapRequested
        self._refresh_progress()

    def _earlier_slice(self, case_id: str) -> int:
        """The slice of this reader's earlier study reading of the case, or -1."""
        try:
            rows = [r for r in self.store.readings(case_id=case_id, study=self.study.name,
                                                   reviewer=self.reviewer)]
        except StoreError:
            return -1
        return min((r.key.slice_index for r in rows), default=-1)

    @Slot(int)
    def _map_row_changed(self, row: int) -> None:
        if not 0 <= row < len(self._maps) or row == self._map_index:
            return
        self._map_index = row
        item = self.study.cases[self._case_index]
        blinded = self._maps[row]
        self.panel.set_context(
            item.case_id, item.case_label, item.source_path, max(self._slice, 0),
            blinded.method, reviewer=self.reviewer, study=self.study.name,
            method_label=blinded.display_name, case_title=self.case_title())
        self._show_metrics()
        self._update_reveal_label()
        self.mapRequested.emit(blinded.method, blinded.label)

    def next_unread(self) -> None:
        """The next map not done: in this case, else in the next unfinished case."""
        for row in range(len(self._maps)):
            r = (self._map_index + 1 + row) % len(self._maps)
            if not self._maps[r].revealed:
                self.map_list.setCurrentRow(r)
                return
        self.panel.flush()
        resume = self.study.resume(self.reviewer)
        if resume is None:
            self.finished.emit()
            return
        item, blinded = resume
        self.go_to_case(self._index_of(item.case_id), blinded.label)

    def set_slice(self, slice_index: int) -> None:
        """The slice the window shows for this case; readings are keyed by it."""
        self._slice = int(slice_index)
        self.panel.set_slice(self._slice)

    # ------------------------------------------------------------------ forwarded to the panel
    def set_region_metrics(self, metrics: Mapping[str, Mapping[str, Any]]) -> None:
        """Per-method metrics (see ReviewPanel); shown under the blinded names."""
        self.panel.set_region_metrics(metrics, names=self.display_names())

    def display_names(self) -> dict[str, str]:
        """Method -> what may be shown for it in this case: "Map B" until its reading is
        done, then "Map B (gradcam++)"."""
        return {m.method: m.display_name for m in self._maps}

    def _show_metrics(self) -> None:
        self.panel.set_metric_names(self.display_names())

    def set_model(self, model_name: str | None, model_version: str | None) -> None:
        self.panel.set_model(model_name, model_version)

    def set_prediction(self, label: str | None, probability: float | None) -> None:
        self.panel.set_prediction(label, probability)

    # ------------------------------------------------------------------ state
    def current_case(self) -> WorkItem | None:
        if 0 <= self._case_index < len(self.study.cases):
            return self.study.cases[self._case_index]
        return None

    def current_map(self) -> BlindedMap | None:
        return self._maps[self._map_index] if 0 <= self._map_index < len(self._maps) else None

    def map_revealed(self, method: str) -> bool:
        """Whether the window may name ``method`` for the current case."""
        return any(m.method == method and m.revealed for m in self._maps)

    @Slot(bool)
    def _completed_changed(self, _done: bool) -> None:
        self._refresh()

    def _refresh(self) -> None:
        """Re-read which maps are done (revealed) after a save."""
        item = self.current_case()
        if item is None:
            return
        try:
            maps = self.study.maps(item.case_id, self.reviewer)
        except StoreError:
            return
        if maps != self._maps:
            self._maps = maps
            self._fill_map_list()
            current = self.current_map()
            self._update_reveal_label()
            if current is not None:
                self.panel.set_method_label(current.display_name)
            self._show_metrics()
            self._refresh_progress()
            if self.study.progress(self.reviewer).next_case is None:
                self.finished.emit()

    def _update_reveal_label(self) -> None:
        current = self.current_map()
        if current is not None and current.revealed:
            self.reveal_label.setText(f"{current.label} was made by "
                                      f"<b>{_html(current.method)}</b>.")
        else:
            self.reveal_label.setText("Method names are hidden until a reading is done.")

    def _fill_map_list(self) -> None:
        self.map_list.blockSignals(True)
        self.map_list.clear()
        for blinded in self._maps:
            text = blinded.display_name
            if blinded.revealed:
                text = f"{_DONE_MARK} {text}"
            self.map_list.addItem(QListWidgetItem(text))
        if 0 <= self._map_index < len(self._maps):
            self.map_list.setCurrentRow(self._map_index)
        self.map_list.blockSignals(False)

    def _refresh_progress(self) -> None:
        progress = self.study.progress(self.reviewer)
        self.progress_bar.setValue(progress.done)
        done_maps = sum(m.revealed for m in self._maps)
        self.progress_label.setText(
            f"{self.case_title()} \u00b7 {done_maps} of {len(self._maps)} maps done here "
            f"\u00b7 {progress.done} of {progress.total} cases done"
            + (" \u00b7 study complete" if progress.next_case is None else ""))
        self.prev_button.setEnabled(self._case_index > 0)
        self.next_button.setEnabled(self._case_index < len(self.study.cases) - 1)

    def case_title(self) -> str:
        return f"Case {self._case_index + 1} of {len(self.study.cases)}"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
