"""The radiologist's reading of the map on screen, saved the moment each control changes.

A reading that only reaches the disk when someone presses Save is lost the day they forget,
so there is no Save button: every edit goes straight to :class:`ReviewStore` (committed
and fsynced on return) and a status line says "Saved 21:04:33" or "Not saved: <why>".
When the store refuses a write (read-only or full disk, a lock) the panel keeps what was
typed, both in its controls and in a queue of unsaved edits that it retries (the store
also journals the edit beside the database when it can), so switching case does not lose
it either. The panel never shows a modal dialog: a radiologist keeps scrolling.

Integration (the main window docks it; nothing here computes maps or metrics)::

    panel = ReviewPanel(store, parent=None)
    panel.set_context(case_id, case_label, source_path, slice_index, method,
                      model_version=None, reviewer=None, *, study="", method_label=None,
                      case_title=None, model_name=None)   # what is being read now
    panel.set_slice(i)                             # same case and method, another slice
    panel.set_model(name, version, sha256=None)    # recorded with every edit
    panel.set_prediction(label, probability, target_class=None)  # stored with edits
    panel.set_region_metrics({method: {"pointing": bool, "energy": float}}, names=None)
                                 # for regions() on this slice; dropped when the case,
                                 # slice, reviewer or regions change: recompute on
                                 # regionsChanged. names: method -> shown name
    panel.add_region(Region.box(r0, c0, r1, c1))   # the viewer's draw tool
    panel.set_regions([...]); panel.regions(); panel.remove_region(i)
    panel.set_metric_names({method: name})         # rename/order the metrics rows
    panel.flush() -> bool                          # retry unsaved edits now: call it when
                                                   # the window closes
    panel.has_unsaved() -> bool
    signals: regionsChanged(list[Region])   after any change or context switch: redraw the
                                            regions and recompute the metrics
             saved(str)        status text after each successful write ("Saved 21:04:33")
             saveFailed(str)   the reason a write was refused (text kept, retried)
             completedChanged(bool)  "Reading done" toggled (a study reveals the method)
             reviewerChanged(str)    the reviewer name was edited (persist it)

Regions belong to the case, slice and reviewer (one lesion outline serves every method);
the ratings belong to the case, slice, reviewer, study and method. ``method_label``
replaces the method name in everything the panel shows (blinded reader study).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from functools import partial
from typing import Any, Callable, Mapping, Sequence

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QCheckBox, QFormLayout,
                               QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QListWidget, QPlainTextEdit, QPushButton, QSpinBox,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from lungview.review import (AGREEMENT_VALUES, FOCUS_VALUES, FP_FLAGS, Reading, ReadingKey,
                             ReadingValueError, Region, ReviewStore, SaveError,
                             StoreError)

#: how often unsaved edits are retried while the store refuses writes
RETRY_MS = 3000
#: edits made while failing are coalesced for this long (a lock wait is up to ~1 s each)
FAILING_DEBOUNCE_MS = 400

FP_LABELS = {"normal_lung": "normal lung", "bone": "bone", "heart": "heart",
             "mirror": "mirror position"}
# a checked choice must be unmistakable at a glance (the default style barely shades it)
_CHOICE_STYLE = ("QPushButton { padding:3px 8px; }"
                 "QPushButton:checked { background:#1f5f9e; color:white; font-weight:bold;"
                 " border:1px solid #123d66; border-radius:3px; }")
_OK_STYLE = "color:#2e7d32;"
_FAIL_STYLE = ("background:#5b1a1a; color:#ffe4e4; border:1px solid #b84a4a;"
               "border-radius:3px; padding:3px;")


class ChoiceRow(QWidget):
    """A row of toggle buttons of which at most one is on; clicking the one that is on
    turns it off (the value goes back to unset)."""

    changed = Signal(object)  # the value, or None

    def __init__(self, values: Sequence[Any], labels: Sequence[str] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values = list(values)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.group = QButtonGroup(self)
        self.group.setExclusive(False)
        self.buttons: list[QPushButton] = []
        for i, text in enumerate(labels or [str(v) for v in values]):
            button = QPushButton(text)
            button.setCheckable(True)
            button.setStyleSheet(_CHOICE_STYLE)
            button.setAutoDefault(False)
            self.group.addButton(button, i)
            layout.addWidget(button)
            self.buttons.append(button)
        layout.addStretch(1)
        self.group.idClicked.connect(self._clicked)

    def value(self) -> Any:
        return next((v for v, b in zip(self.values, self.buttons) if b.isChecked()), None)

    def set_value(self, value: Any) -> None:
        """Show ``value`` (None: none on) without emitting :attr:`changed`."""
        for v, b in zip(self.values, self.buttons):
            b.setChecked(v == value)

    @Slot(int)
    def _clicked(self, index: int) -> None:
        on = self.buttons[index].isChecked()
        for i, b in enumerate(self.buttons):
            if i != index:
                b.setChecked(False)
        self.changed.emit(self.values[index] if on else None)


def region_text(index: int, region: Region) -> str:
    """One list line for a region, in original-image pixels."""
    rows = [p[0] for p in region.points]
    cols = [p[1] for p in region.points]
    if region.kind == "box":
        return (f"{index + 1}. box rows {rows[0]:.0f}\u2013{rows[1]:.0f}, "
                f"cols {cols[0]:.0f}\u2013{cols[1]:.0f}")
    return (f"{index + 1}. polygon, {len(region.points)} points, rows "
            f"{min(rows):.0f}\u2013{max(rows):.0f}, cols {min(cols):.0f}\u2013{max(cols):.0f}")


@dataclasses.dataclass(frozen=True)
class _Context:
    case_id: str
    case_label: str
    source_path: str
    slice_index: int
    method: str
    study: str
    method_label: str
    case_title: str


class ReviewPanel(QWidget):
    """Comment, structured ratings, regions and their metrics for one reading."""

    regionsChanged = Signal(list)
    saved = Signal(str)
    saveFailed = Signal(str)
    completedChanged = Signal(bool)
    reviewerChanged = Signal(str)

    def __init__(self, store: ReviewStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self._ctx: _Context | None = None
        self._reviewer = ""
        self._loading = False
        self._failing = False
        self._failure_reason = ""
        self._regions: list[Region] = []
        self._metrics: dict[str, dict[str, Any]] = {}
        self._metric_names: dict[str, str] = {}
        self._meta: dict[str, Any] = {}
        # what the store has not accepted yet, oldest first
        self._cases: dict[str, tuple[str, str]] = {}  # case id -> (label, source path)
        self._registered: set[str] = set()  # cases this panel has written
        self._pending_regions: dict[tuple[str, int, str], list[Region]] = {}
        self._dirty: dict[ReadingKey, dict[str, Any]] = {}
        self._build()
        self._retry = QTimer(self)
        self._retry.setInterval(RETRY_MS)
        self._retry.timeout.connect(self._retry_tick)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(FAILING_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.flush)
        self._set_enabled(False)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.header = QLabel("No case open")
        self.header.setWordWrap(True)
        self.header.setObjectName("reviewHeader")

        self.reviewer_edit = QLineEdit()
        self.reviewer_edit.setMaxLength(200)
        self.reviewer_edit.setPlaceholderText("your name (stored with each reading)")
        self.reviewer_edit.editingFinished.connect(self._reviewer_edited)

        self.focus_row = ChoiceRow(FOCUS_VALUES)
        self.focus_row.changed.connect(lambda v: self._edit("focus", v))
        self.usefulness_row = ChoiceRow(range(1, 6))
        self.usefulness_row.changed.connect(lambda v: self._edit("usefulness", v))
        self.prediction_label = QLabel("classifier: \u2014")
        self.agreement_row = ChoiceRow(AGREEMENT_VALUES)
        self.agreement_row.changed.connect(lambda v: self._edit("agreement", v))

        self.fp_boxes: dict[str, QCheckBox] = {}
        fp_row = QWidget()
        fp_layout = QHBoxLayout(fp_row)
        fp_layout.setContentsMargins(0, 0, 0, 0)
        for flag in FP_FLAGS:
            box = QCheckBox(FP_LABELS.get(flag, flag))
            box.toggled.connect(self._fp_toggled)
            fp_layout.addWidget(box)
            self.fp_boxes[flag] = box
        fp_layout.addStretch(1)

        self.missed_edit = QLineEdit()
        self.missed_edit.setPlaceholderText("lesions the map missed")
        self.missed_edit.textEdited.connect(lambda t: self._edit("missed_lesions", t))
        self.missed_count = QSpinBox()
        self.missed_count.setRange(-1, 10_000)
        self.missed_count.setSpecialValueText("count \u2013")
        self.missed_count.setValue(-1)
        self.missed_count.valueChanged.connect(
            lambda v: self._edit("missed_count", None if v < 0 else v))
        missed_row = QWidget()
        missed_layout = QHBoxLayout(missed_row)
        missed_layout.setContentsMargins(0, 0, 0, 0)
        missed_layout.addWidget(self.missed_edit, 1)
        missed_layout.addWidget(self.missed_count)

        self.comment_edit = QPlainTextEdit()
        self.comment_edit.setPlaceholderText("Comment (saved as you type)")
        self.comment_edit.textChanged.connect(
            lambda: self._edit("comment", self.comment_edit.toPlainText()))

        self.done_box = QCheckBox("Reading done")
        self.done_box.setToolTip("Mark this reading complete (in a reader study this "
                                 "reveals which method made the map)")
        self.done_box.toggled.connect(self._done_toggled)

        form = QFormLayout()
        form.addRow("Reviewer", self.reviewer_edit)
        form.addRow("Focus on lesion", self.focus_row)
        form.addRow("False-positive foci", fp_row)
        form.addRow("Missed lesions", missed_row)
        form.addRow("Usefulness (1\u20135)", self.usefulness_row)
        form.addRow(self.prediction_label, self.agreement_row)

        self.metrics_table = QTableWidget(0, 3)
        self.metrics_table.setHorizontalHeaderLabels(["map", "pointing game", "energy in region"])
        self.metrics_table.verticalHeader().setVisible(False)
        self.metrics_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.metrics_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.metrics_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.Stretch)
        self.metrics_table.verticalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.metrics_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.region_list = QListWidget()
        self.region_list.setMaximumHeight(64)
        self.remove_region_button = QPushButton("Remove region")
        self.remove_region_button.clicked.connect(self._remove_selected_region)
        regions_box = QGroupBox("Lesion regions (draw them on the image)")
        regions_layout = QVBoxLayout(regions_box)
        regions_layout.addWidget(self.region_list)
        regions_layout.addWidget(self.remove_region_button)
        regions_layout.addWidget(self.metrics_table)

        self.status = QLabel("")
        self.status.setObjectName("saveStatus")
        self.status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.status)  # at the top: seen even in a short dock
        layout.addLayout(form)
        layout.addWidget(QLabel("Comment"))
        layout.addWidget(self.comment_edit, 1)
        layout.addWidget(self.done_box)
        layout.addWidget(regions_box)
        self._refresh_metrics()

    def _set_enabled(self, on: bool) -> None:
        for widget in (self.focus_row, self.usefulness_row, self.agreement_row,
                       self.missed_edit, self.missed_count, self.comment_edit,
                       self.done_box, self.region_list, self.remove_region_button,
                       *self.fp_boxes.values()):
            widget.setEnabled(on)

    # ------------------------------------------------------------------ context
    def set_context(self, case_id: str, case_label: str, source_path: str,
                    slice_index: int, method: str, model_version: str | None = None,
                    reviewer: str | None = None, *, study: str = "",
                    method_label: str | None = None, case_title: str | None = None,
                    model_name: str | None = None) -> None:
        """Show (and from now on edit) the reading of ``method`` on this slice of a case.

        The case (label, path) is registered in the store with the first edit: opening
        and browsing cases writes nothing. ``reviewer`` None keeps the
        name in the panel. ``case_title`` / ``method_label`` replace the case label and
        method name on screen (a blinded study shows neither).
        """
        ReadingKey(case_id, method, slice_index)  # typed error for a bad id/method/slice
        if self._ctx is None or (self._ctx.case_id, self._ctx.slice_index) != (
                case_id, slice_index):
            self._clear_metrics()  # they were for other regions
        self._ctx = _Context(case_id, case_label, str(source_path), int(slice_index), method,
                             study, method_label or method, case_title or case_label)
        if model_version is not None or model_name is not None:
            self.set_model(model_name, model_version)
        if reviewer is not None:
            self._reviewer = reviewer
            self.reviewer_edit.setText(reviewer)
        if self._cases.get(case_id) != (case_label, str(source_path)):
            # registered (written) with the first edit: browsing alone writes nothing
            self._cases[case_id] = (case_label, str(source_path))
            self._registered.discard(case_id)
        self.flush()
        self._load()

    def set_slice(self, slice_index: int) -> None:
        """Move to another slice of the same case and method."""
        if self._ctx is not None and slice_index != self._ctx.slice_index:
            self._ctx = dataclasses.replace(self._ctx, slice_index=int(slice_index))
            self._clear_metrics()
            self._load()

    def set_model(self, model_name: str | None, model_version: str | None,
                  model_sha256: str | None = None) -> None:
        """The classifier whose maps are read; recorded with every edit from now on."""
        for name, value in (("model_name", model_name), ("model_version", model_version),
                            ("model_sha256", model_sha256)):
            if value is not None:
                self._meta[name] = value

    def set_prediction(self, label: str | None, probability: float | None,
                       target_class: str | None = None) -> None:
        """The classifier's answer the reader agrees or disagrees with."""
        for name, value in (("predicted_label", label), ("predicted_prob", probability),
                            ("target_class", target_class)):
            if value is None:
                self._meta.pop(name, None)
            else:
                self._meta[name] = float(value) if name == "predicted_prob" else value
        text = "classifier: \u2014" if label is None else f"classifier: {label}"
        if label is not None and probability is not None:
            text += f" ({float(probability):.0%})"
        self.prediction_label.setText(text)

    def set_method_label(self, method_label: str) -> None:
        """Rename the method on screen (a study reveals it once the reading is done)."""
        if self._ctx is not None:
            self._ctx = dataclasses.replace(self._ctx, method_label=method_label)
            self._update_header()

    def _update_header(self) -> None:
        c = self._ctx
        assert c is not None
        slice_text = f" \u00b7 slice {c.slice_index + 1}" if c.slice_index else ""
        self.header.setText(f"<b>{_html(c.case_title)}</b>{slice_text} \u00b7 "
                            f"{_html(c.method_label)}")

    def key(self) -> ReadingKey | None:
        """The key of the reading on screen (None before :meth:`set_context`)."""
        if self._ctx is None:
            return None
        c = self._ctx
        return ReadingKey(c.case_id, c.method, c.slice_index, self._reviewer, c.study)

    def reviewer(self) -> str:
        return self._reviewer

    @Slot()
    def _reviewer_edited(self) -> None:
        name = self.reviewer_edit.text().strip()
        if name == self._reviewer:
            return
        self.flush()  # edits under the old name go to the old name
        self._reviewer = name
        self._clear_metrics()  # another reviewer's regions
        self.reviewerChanged.emit(name)
        if self._ctx is not None:
            self._load()

    def _load(self) -> None:
        """Fill the controls from the store plus any edits it has not accepted yet."""
        key = self.key()
        assert key is not None and self._ctx is not None
        c = self._ctx
        self._update_header()
        try:
            reading = self.store.get_reading(key)
            regions = [r for _, _, r in self.store.regions(
                c.case_id, reviewer=self._reviewer, slice_index=c.slice_index)]
        except StoreError as exc:
            reading, regions = None, []
            self._show_failure(f"cannot read the saved reading: {exc.reason}")
        values = _reading_values(reading)
        values.update(self._dirty.get(key, {}))
        self._regions = list(self._pending_regions.get(
            (c.case_id, c.slice_index, self._reviewer), regions))
        self._loading = True
        try:
            self.focus_row.set_value(values["focus"])
            self.usefulness_row.set_value(values["usefulness"])
            self.agreement_row.set_value(values["agreement"])
            for flag, box in self.fp_boxes.items():
                box.setChecked(flag in values["fp_flags"])
            self.missed_edit.setText(values["missed_lesions"])
            count = values["missed_count"]
            self.missed_count.setValue(-1 if count is None else count)
            if self.comment_edit.toPlainText() != values["comment"]:
                self.comment_edit.setPlainText(values["comment"])
            self.done_box.setChecked(bool(values["completed"]))
        finally:
            self._loading = False
        self._set_enabled(True)
        self._refresh_regions()
        self.regionsChanged.emit(list(self._regions))

    # ------------------------------------------------------------------ editing
    def _edit(self, field: str, value: Any) -> None:
        if self._loading or self._ctx is None:
            return
        key = self.key()
        assert key is not None
        self._dirty.setdefault(key, {})[field] = value
        if self._failing:
            self._show_failure(self._failure_reason, pending=True)
            self._debounce.start()
        else:
            self.flush()

    @Slot(bool)
    def _fp_toggled(self, _on: bool) -> None:
        self._edit("fp_flags", frozenset(f for f, b in self.fp_boxes.items() if b.isChecked()))

    @Slot(bool)
    def _done_toggled(self, on: bool) -> None:
        if self._loading:
            return
        self._edit("completed", on)
        self.completedChanged.emit(on)

    def _reading_exists(self, key: ReadingKey) -> bool:
        if key in self._dirty:
            return True
        try:
            return self.store.get_reading(key) is not None
        except StoreError:
            return False

    # ------------------------------------------------------------------ regions
    def regions(self) -> list[Region]:
        """The regions on this slice of this case, for this reviewer."""
        return list(self._regions)

    def add_region(self, region: Region) -> None:
        """Add a region drawn on the current slice (its slice index is set to it)."""
        if self._ctx is None:
            raise ReadingValueError("region", "no case is open")
        self.set_regions([*self._regions, region])

    def remove_region(self, index: int) -> None:
        if 0 <= index < len(self._regions):
            self.set_regions(self._regions[:index] + self._regions[index + 1:])

    def set_regions(self, regions: Sequence[Region]) -> None:
        """Replace the current slice's regions, save them and emit :attr:`regionsChanged`."""
        if self._ctx is None:
            raise ReadingValueError("region", "no case is open")
        c = self._ctx
        regions = [r if r.slice_index == c.slice_index
                   else dataclasses.replace(r, slice_index=c.slice_index) for r in regions]
        self._regions = regions
        self._clear_metrics()  # stale until the window recomputes them for these regions
        self._pending_regions[(c.case_id, c.slice_index, self._reviewer)] = list(regions)
        self._refresh_regions()
        if self._failing:
            self._debounce.start()
        else:
            self.flush()
        self.regionsChanged.emit(list(regions))

    @Slot()
    def _remove_selected_region(self) -> None:
        self.remove_region(self.region_list.currentRow())

    def _refresh_regions(self) -> None:
        self.region_list.clear()
        for i, region in enumerate(self._regions):
            self.region_list.addItem(region_text(i, region))
        if not self._regions:
            self.region_list.addItem("none: draw a box or polygon on the lesion")
            hint = self.region_list.item(0)
            hint.setFlags(hint.flags() & ~Qt.ItemFlag.ItemIsSelectable)
        self.remove_region_button.setEnabled(bool(self._regions))

    # ------------------------------------------------------------------ metrics
    def set_region_metrics(self, metrics: Mapping[str, Mapping[str, Any]],
                           names: Mapping[str, str] | None = None) -> None:
        """Show each method's pointing-game hit and energy-in-region share.

        ``metrics`` maps a method to ``{"pointing": bool, "energy": float 0..1}`` (either
        may be missing), computed for :meth:`regions` on the current slice; the panel
        drops them when the case, slice, reviewer or regions change (recompute on
        :attr:`regionsChanged`). ``names``: see :meth:`set_metric_names`. The current
        method's values are stored with its reading (when the reading exists; otherwise
        with its first edit).
        """
        self._metrics = {m: dict(v) for m, v in metrics.items()}
        if names is not None:
            self._metric_names = dict(names)
        self._refresh_metrics()
        key = self.key()
        if key is None or not self._reading_exists(key):
            return
        wanted = self._metric_fields(key.method)
        try:
            stored = self.store.get_reading(key)
        except StoreError:
            stored = None
        current = {**({} if stored is None else {"pointing_hit": stored.pointing_hit,
                                                  "energy_share": stored.energy_share}),
                   **{k: v for k, v in self._dirty.get(key, {}).items() if k in wanted}}
        if any(current.get(k) != v for k, v in wanted.items()):
            for name, value in wanted.items():
                self._dirty.setdefault(key, {})[name] = value
            if not self._failing:
                self.flush()

    def set_metric_names(self, names: Mapping[str, str]) -> None:
        """Method -> the name shown in the metrics table (rows in this order); empty:
        the method names themselves."""
        self._metric_names = dict(names)
        self._refresh_metrics()

    def _clear_metrics(self) -> None:
        if self._metrics:
            self._metrics = {}
            self._refresh_metrics()

    def _metric_fields(self, method: str) -> dict[str, Any]:
        values = self._metrics.get(method, {}) if self._regions else {}
        hit, energy = values.get("pointing"), values.get("energy")
        return {"pointing_hit": None if hit is None else bool(hit),
                "energy_share": None if energy is None else min(1.0, max(0.0, float(energy)))}

    def _refresh_metrics(self) -> None:
        order = list(self._metric_names) or list(self._metrics)
        rows = [m for m in order if m in self._metrics]
        self.metrics_table.setRowCount(len(rows))
        current = self._ctx.method if self._ctx else None
        for row, method in enumerate(rows):
            values = self._metrics[method]
            hit, energy = values.get("pointing"), values.get("energy")
            name = self._metric_names.get(method, method)
            cells = [name + (" \u25c0" if method == current else ""),
                     "\u2013" if hit is None else ("hit" if hit else "miss"),
                     "\u2013" if energy is None else f"{float(energy):.0%}"]
            for col, text in enumerate(cells):
                self.metrics_table.setItem(row, col, QTableWidgetItem(text))
        self.metrics_table.setVisible(bool(rows))
        # tall enough for every row: seven methods fit without scrolling
        table = self.metrics_table
        table.resizeRowsToContents()
        height = table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth() + sum(
            table.rowHeight(r) for r in range(len(rows)))
        table.setFixedHeight(height)

    # ------------------------------------------------------------------ saving
    def has_unsaved(self) -> bool:
        """Whether some edit has not been accepted by the store yet."""
        return bool(self._pending_regions or self._dirty)

    @Slot()
    def flush(self) -> bool:
        """Write every edit the store has not accepted yet; True when none is left."""
        if self._debounce.isActive():
            self._debounce.stop()
        if not self.has_unsaved():
            return True
        writes: list[tuple[Any, Any, Callable[[], None]]] = []
        needed = {k.case_id for k in self._dirty} | {w[0] for w in self._pending_regions}
        for case_id in sorted(needed - self._registered):
            label, path = self._cases[case_id]
            writes.append((self._registered, case_id,
                           partial(self.store.upsert_case, case_id, label, path)))
        for where, regions in self._pending_regions.items():
            case_id, slice_index, reviewer = where
            writes.append((self._pending_regions, where, partial(
                self.store.set_regions, case_id, slice_index, regions, reviewer)))
        for key, fields in self._dirty.items():
            writes.append((self._dirty, key, partial(self._write_reading, key, fields)))
        failure: StoreError | None = None
        for queue, item, write in writes:
            try:
                write()
            except SaveError as exc:
                failure = failure or exc
                if exc.pending_path is None:
                    break  # not even journaled: later edits would not be either
                continue  # journaled (in order): journal the rest too, keep them queued
            except StoreError as exc:
                failure = failure or exc
                break
            if failure is None:
                if isinstance(queue, set):
                    queue.add(item)
                else:
                    del queue[item]
        if failure is not None:
            self._failed(failure.reason)
            return False
        self._succeeded()
        return True

    def _write_reading(self, key: ReadingKey, fields: dict[str, Any]) -> None:
        values = {**self._meta, **fields}
        if key == self.key() and self._regions and key.method in self._metrics:
            values = {**self._meta, **self._metric_fields(key.method), **fields}
        while True:
            try:
                self.store.update_reading(key, **values)
                return
            except ReadingValueError as exc:
                # a value no reading can hold never becomes savable: drop it, say so
                self.saveFailed.emit(f"{exc.field}: {exc.reason}")
                if exc.field not in values:
                    return
                values.pop(exc.field)
                fields.pop(exc.field, None)
                self._meta.pop(exc.field, None)  # reported once, not on every keystroke
                if not values:
                    return

    def _failed(self, reason: str) -> None:
        self._failing = True
        self._failure_reason = reason
        if not self._retry.isActive():
            self._retry.start()
        self._show_failure(reason)
        self.saveFailed.emit(reason)

    def _show_failure(self, reason: str, pending: bool = False) -> None:
        self.status.setStyleSheet(_FAIL_STYLE)
        extra = " Your text stays here and is retried." if not pending else \
            " Your latest edits stay here and are retried."
        self.status.setText(f"Not saved: {reason}.{extra}")
        self.status.setToolTip(reason)

    def _succeeded(self) -> None:
        self._failing = False
        if self._retry.isActive():
            self._retry.stop()
        text = f"Saved {datetime.now().strftime('%H:%M:%S')}"
        # per keystroke: touch the label only when what it shows changes
        if self.status.text() != text:
            if not self.status.text().startswith("Saved"):
                self.status.setStyleSheet(_OK_STYLE)
                self.status.setToolTip(f"in {self.store.path}")
            self.status.setText(text)
        self.saved.emit(text)

    @Slot()
    def _retry_tick(self) -> None:
        # replay the store's journal first: retrying edits the store already journaled
        # while it still refuses would only grow the journal
        try:
            if self.store.pending_count():
                self.store.flush_pending()
        except StoreError as exc:
            self._show_failure(exc.reason, pending=True)
            return
        self.flush()

    def closeEvent(self, event: QCloseEvent) -> None:
        """A standalone panel writes what it can before it goes (a docked one relies on
        the window calling :meth:`flush`)."""
        self.flush()
        self._retry.stop()
        super().closeEvent(event)

    def save_state(self) -> str:
        """``"saved"``, ``"failed"`` or ``"idle"`` (nothing edited yet), for tests/status."""
        if self._failing or self.has_unsaved():
            return "failed"
        return "saved" if self.status.text().startswith("Saved") else "idle"


def _reading_values(reading: Reading | None) -> dict[str, Any]:
    if reading is None:
        return {"comment": "", "focus": None, "missed_lesions": "", "missed_count": None,
                "fp_flags": frozenset(), "usefulness": None, "agreement": None,
                "completed": False}
    return {"comment": reading.comment, "focus": reading.focus,
            "missed_lesions": reading.missed_lesions, "missed_count": reading.missed_count,
            "fp_flags": reading.fp_flags, "usefulness": reading.usefulness,
            "agreement": reading.agreement, "completed": reading.completed}


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
