"""Reader-study mode in the main window: the StudyView docked beside the image, driving it.

:class:`lungview.ui.study_view.StudyView` holds the worklist, the blinded map list and the
reading panel; this module connects it to a :class:`~lungview.ui.main_window.MainWindow`:

- the view asks for a case (``caseRequested``): the window opens it, and on every slice
  change tells the view which slice is on screen (readings are keyed by slice);
- the view asks for a map (``mapRequested``): the window switches its CAM method to it
  while the method switcher and the all-methods grid are hidden, and every caption,
  legend and export says "Map B" instead of the method until the reading is done;
- the case is named "Case 3 of 10" in the title, the image overlay and exports (the
  IQ-OTH/NCCD file names carry the diagnosis), and opened cases stay out of Recent files;
- the study docks left of the image, the AI panel stays on the right;
- lesion boxes drawn on the image go to the study's reading panel, whose pointing-game
  and energy figures appear under the blinded names.

Start it from File > Reader study... (:class:`StudyDialog`) or
``MainWindow.start_study(name, worklist, reviewer)``; ``MainWindow.end_study()`` returns
to the normal viewer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QDockWidget, QFileDialog,
                               QFormLayout, QHBoxLayout, QLineEdit, QPushButton, QWidget)

from lungview.review import ReviewStore, Study
from lungview.ui.study_view import StudyView, open_study

if TYPE_CHECKING:
    from lungview.ui.main_window import MainWindow


class StudyDialog(QDialog):
    """Asks for the study's name, its worklist (a folder of cases or a list file) and the
    reader. An existing study of that name is resumed and needs no worklist."""

    def __init__(self, parent: QWidget | None = None, names: list[str] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Reader study")
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. pilot-2026")
        if names:
            self.name_edit.setToolTip("Existing studies: " + ", ".join(names))
        self.worklist_edit = QLineEdit()
        self.worklist_edit.setPlaceholderText("folder of cases, or a text file of paths")
        folder = QPushButton("Folder\u2026")
        folder.clicked.connect(self._choose_folder)
        listing = QPushButton("List file\u2026")
        listing.clicked.connect(self._choose_file)
        row = QHBoxLayout()
        row.addWidget(self.worklist_edit, 1)
        row.addWidget(folder)
        row.addWidget(listing)
        self.reader_edit = QLineEdit()
        form = QFormLayout(self)
        form.addRow("Study name", self.name_edit)
        form.addRow("Worklist (new study)", row)
        form.addRow("Reader", self.reader_edit)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Worklist folder")
        if path:
            self.worklist_edit.setText(path)

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Worklist file (one path per line)")
        if path:
            self.worklist_edit.setText(path)

    def values(self) -> tuple[str, str | None, str]:
        worklist = self.worklist_edit.text().strip() or None
        return self.name_edit.text().strip(), worklist, self.reader_edit.text().strip()


class StudyMode(QObject):
    """One running study in one window (see the module docstring)."""

    def __init__(self, window: MainWindow, store: ReviewStore, study: Study,
                 reviewer: str) -> None:
        super().__init__(window)
        self.window = window
        self.view = StudyView(store, study, reviewer)
        self.dock = QDockWidget(f"Reader study: {study.name}", window)
        self.dock.setObjectName("study")
        self.dock.setWidget(self.view)
        # left of the image, so the AI panel (opacity, class, threshold) stays in view
        window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)
        self._pending_slice = -1
        self._case_path: str | None = None
        self.view.caseRequested.connect(self._open_case)
        self.view.mapRequested.connect(self._show_map)
        self.view.panel.regionsChanged.connect(window._on_regions_changed)
        self.view.panel.saveFailed.connect(window._on_review_save_failed)
        self.view.panel.completedChanged.connect(lambda _done: window.refresh_captions())
        window.caseLoaded.connect(self._case_loaded)

    # ------------------------------------------------------------------ window queries
    @property
    def panel(self) -> Any:
        return self.view.panel

    def case_title(self) -> str:
        return self.view.case_title()

    def method_title(self, method: str) -> str:
        """What the window may call ``method`` (see StudyView.display_names)."""
        return self.view.display_names().get(method, "map")

    # ------------------------------------------------------------------ view -> window
    @Slot(str, int)
    def _open_case(self, path: str, slice_index: int) -> None:
        self._pending_slice = slice_index
        if self._case_path == path and self.window.series is not None:
            self._apply_slice()
            return
        self._case_path = path
        self.window.open_path(path)

    @Slot(str, str)
    def _show_map(self, method: str, label: str) -> None:
        panel = self.window.ai_panel
        if not panel.heatmap_on():
            panel.show_heatmap.setChecked(True)
        index = panel.method_combo.findData(method)
        if index >= 0 and index != panel.method_combo.currentIndex():
            panel.method_combo.setCurrentIndex(index)  # -> the window requests the map
        self.window.refresh_captions()

    # ------------------------------------------------------------------ window -> view
    @Slot(object)
    def _case_loaded(self, _case: object) -> None:
        self._apply_slice()

    def _apply_slice(self) -> None:
        if self._pending_slice >= 0:  # the slice of an earlier reading of this case
            self.window.set_slice(self._pending_slice)  # -> view.set_slice via the window
        self._pending_slice = -1
        self.window.refresh_captions()

    # ------------------------------------------------------------------ lifetime
    def start(self) -> None:
        self.hide_method_controls(True)
        self.dock.show()
        self.view.start()

    def hide_method_controls(self, hidden: bool) -> None:
        """Nothing on screen may name the method: its switcher and the grid go away."""
        self.window.ai_panel.set_method_choice_visible(not hidden)
        self.window.grid_action.setEnabled(not hidden)

    def close(self) -> None:
        self.view.panel.flush()
        self.hide_method_controls(False)
        self.window.caseLoaded.disconnect(self._case_loaded)
        self.window.removeDockWidget(self.dock)
        self.dock.deleteLater()
