"""The Runs tab: every run of the project (headless runs included) in a table that stays quick at 1,000 runs.

The rows come from the run index (RunIndex: runs/.index.sqlite, rebuilt from the run folders when stale), the
columns are the settings that differ between the runs and their results (runs_table.RunsTableModel). Click a
header to sort, type in the filter box (words, or `lr<0.01`), tick runs to overlay their curves (each row then
shows its overlay colour), select one to show its curves and edit its notes, select two or more to see what
differs in their configs. Rename (or edit the name in place), tags (edited in place), delete, resume and
evaluate act on the selected run.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import UserError
from workbench.core.training.runs import Run
from workbench.ui.panels.training.runs_diff import RunsDiffView
from workbench.ui.panels.training.runs_table import RunsTableModel

RESUMABLE = ("stopped", "interrupted")  # a completed run has nothing left; a failed one fails again
NOTES_SAVE_MS = 600  # notes are saved this long after the last keystroke (and when another run is selected)
OVERLAY_DELAY_MS = 40  # ticks within this time are one overlay request
ASYNC_RUNS = 200  # a runs folder with more run folders than this is read off the GUI thread


def _count_folders(root: Path) -> int:
    try:
        return sum(1 for entry in os.scandir(root) if entry.is_dir(follow_symlinks=False))
    except OSError:
        return 0


def fork_step(row) -> float:
    """The parent's step at the fork of a forked run (its 'forked_from' setting "<parent id>@<step>"), else 0."""
    ref = row.settings.get("forked_from") if row.settings else None
    if not isinstance(ref, str) or "@" not in ref:
        return 0.0
    try:
        return float(ref.rsplit("@", 1)[1])
    except ValueError:
        return 0.0


class RunsView(QWidget):
    sig_selected = Signal(object)  # Run or None
    sig_overlays_changed = Signal(list)  # [(name, run folder, fork step or 0)] ticked for overlay
    sig_resume = Signal(object)  # Run to continue from its last checkpoint
    sig_evaluate = Signal(object)  # Run to evaluate
    sig_fork = Signal(object, dict)  # (checkpoint path, training settings changed) of a new fork
    sig_changed = Signal()  # renamed / deleted

    def __init__(self, parent=None):
        super().__init__(parent)
        self.root = None  # a Path, or a callable giving it (the project's runs move on Save As)
        self.busy_run: Path | None = None  # the live run (cannot be deleted)
        self._busy = False
        self._index = None  # RunIndex of the current root
        self._rows_root: Path | None = None  # the folder the rows shown came from
        self.jobs = None  # a JobRunner: large folders are read on a thread (the Training panel sets it)
        self.model = RunsTableModel(self)
        self.model.sig_checked_changed.connect(self._on_model_checked_changed)
        self.model.sig_error.connect(lambda message: QMessageBox.warning(self, "Cannot save", message))
        self._build()
        self._overlay_timer = QTimer(self)
        self._overlay_timer.setSingleShot(True)
        self._overlay_timer.setInterval(OVERLAY_DELAY_MS)
        self._overlay_timer.timeout.connect(lambda: self.sig_overlays_changed.emit(self.overlay_requests()))
        self._notes_timer = QTimer(self)
        self._notes_timer.setSingleShot(True)
        self._notes_timer.setInterval(NOTES_SAVE_MS)
        self._notes_timer.timeout.connect(self._save_notes)
        self._notes_run: Path | None = None
        self._update_buttons()

    def _build(self) -> None:
        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("runFilterEdit")
        self.filter_edit.setPlaceholderText(
            "Filter runs: words, or lr<0.01  batch>=64  status=completed  acc>0.9"
        )
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._on_filter_edit_changed)
        self.count_label = QLabel()
        self.count_label.setObjectName("runCountLabel")
        self.count_label.setStyleSheet("color: #555;")
        bar = QHBoxLayout()
        bar.addWidget(self.filter_edit, 1)
        bar.addWidget(self.count_label)
        self.buttons = {}
        for key, text, tip in (
            ("refresh", "Refresh", "Read the runs/ folder again"),
            ("rename", "Rename…", "Give the selected run a name (or double-click its name)"),
            ("delete", "Delete…", "Delete the selected run's folder"),
            ("resume", "Resume", "Continue the selected run from its last checkpoint (same step count)"),
            (
                "fork",
                "Fork…",
                "A new run from a checkpoint of the selected run, with a changed learning rate, "
                "epochs or fine-tuning method; it continues the run's curve from the fork step",
            ),
            ("evaluate", "Evaluate", "Confusion matrix and per-class scores of the selected run"),
        ):
            button = QPushButton(text)
            button.setObjectName(f"{key}RunButton")
            button.setToolTip(tip)
            bar.addWidget(button)
            self.buttons[key] = button
        self.buttons["refresh"].clicked.connect(self.reload)
        self.buttons["rename"].clicked.connect(lambda: self.rename_selected())
        self.buttons["delete"].clicked.connect(lambda: self.delete_selected())
        self.buttons["resume"].clicked.connect(lambda: self._emit_for_selected(self.sig_resume))
        self.buttons["evaluate"].clicked.connect(lambda: self._emit_for_selected(self.sig_evaluate))
        self.buttons["fork"].clicked.connect(lambda: self.fork_selected())

        self.table = QTableView()
        self.table.setObjectName("runList")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditKeyPressed | QAbstractItemView.DoubleClicked)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.ElideRight)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setResizeContentsPrecision(40)  # widths from the first rows, not all 1,000
        header.setStretchLastSection(True)
        header.setSortIndicator(-1, Qt.AscendingOrder)  # newest first until a header is clicked
        self.table.setSortingEnabled(True)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        for keys, action in (
            (QKeySequence.Delete, lambda: self.delete_selected()),
            (QKeySequence(Qt.Key_Space), self.toggle_selected_overlays),
        ):  # only while the table has the focus (the builder's Delete is its own)
            QShortcut(keys, self.table, activated=action, context=Qt.WidgetShortcut)

        self.empty = QLabel(
            "No runs yet: press Start, or train headless with `workbench train PROJECT`; runs appear here."
        )
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #666; padding: 8px;")

        self.notes_label = QLabel("Notes")
        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setObjectName("runNotesEdit")
        self.notes_edit.setPlaceholderText("Notes on the selected run (saved in its folder as you type)")
        self.notes_edit.textChanged.connect(self._on_notes_edit_changed)
        notes = QWidget()
        notes_layout = QVBoxLayout(notes)
        notes_layout.setContentsMargins(0, 0, 0, 0)
        notes_layout.addWidget(self.notes_label)
        notes_layout.addWidget(self.notes_edit, 1)
        self.diff = RunsDiffView()
        below = QSplitter(Qt.Horizontal)
        below.addWidget(notes)
        below.addWidget(self.diff)
        below.setStretchFactor(0, 1)
        below.setStretchFactor(1, 2)
        self.split = QSplitter(Qt.Vertical)
        self.split.addWidget(self.table)
        self.split.addWidget(below)
        self.split.setStretchFactor(0, 4)
        self.split.setStretchFactor(1, 1)
        self.split.setChildrenCollapsible(False)
        hint = QLabel(
            "Tick runs (or select them and press Space) to overlay their curves on the Curves tab; "
            "select two or more to see what differs."
        )
        hint.setStyleSheet("color: #666;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.split, 1)
        layout.addWidget(self.empty)
        layout.addWidget(hint)

    # -- contents
    # --------------------------------------------------------------------------------------------------
    def set_root(self, root) -> None:
        """`root`: the runs folder, or a function that returns it (asked again on every reload)."""
        self.root = root
        self.reload()

    def root_path(self) -> Path | None:
        return self.root() if callable(self.root) else self.root

    def reload(self) -> None:
        """Read the runs again (from the index: only changed run folders are read), keeping the selection,
        the ticks, the sort order and the filter. A folder of more than ASYNC_RUNS runs is read on a thread
        (when `jobs` is set): another project's rows go at once, this one's come when read."""
        from workbench.core.training.run_index import RunIndex

        self._save_notes()
        root = self.root_path()
        if root is None:
            self._show_rows([])
            return
        root = Path(root)
        if self._index is None or self._index.root != root:
            self._index = RunIndex(root)
            if self._rows_root is not None and self._rows_root != root:
                self._show_rows([])  # never another project's runs under this one's name
        if self.jobs is not None and _count_folders(root) > ASYNC_RUNS:
            self._read_on_thread(self._index)
            return
        self._show_rows(list(reversed(self._index.rows())), root)  # newest first

    def _read_on_thread(self, index) -> None:
        from workbench.ui.jobs import ThreadJob

        def read():
            from workbench.core.training.run_table import differing_settings

            rows = index.rows()
            yield rows, differing_settings(rows)

        job = ThreadJob("run_rows", read)
        self.count_label.setText("reading the runs…")
        job.sig_events.connect(lambda events, root=index.root: self._on_rows_read(root, *events[-1]))
        self.jobs.start(job)

    def _on_rows_read(self, root: Path, rows: list, differing: list[str]) -> None:
        if self._index is not None and root == self._index.root:  # (not a project since closed)
            self._show_rows(list(reversed(rows)), root, differing)

    def _show_rows(self, rows: list, root: Path | None = None, differing: list[str] | None = None) -> None:
        self._rows_root = root
        selected = [str(r.path) for r in self.selected_rows()]
        checked_before = list(self.model.checked)
        columns_before = list(self.model.columns)
        self.table.selectionModel().blockSignals(True)
        self.model.set_rows(rows, differing)
        self._restore_selection(selected)
        self.table.selectionModel().blockSignals(False)
        if rows and self.model.columns != columns_before:  # widths from the first rows' contents
            self.table.resizeColumnsToContents()
            name = self.model.column_of("name")  # room for the overlay swatch that ticking adds
            self.table.setColumnWidth(name, self.table.columnWidth(name) + self.fontMetrics().height() + 24)
            self.table.setColumnWidth(self.model.column_of("status"), 110)
        self.empty.setVisible(not rows)
        self.split.setVisible(bool(rows))
        self._update_count()
        self._on_selection_settled()
        if self.model.checked != checked_before:
            self._overlay_timer.start()

    def _restore_selection(self, paths: list[str]) -> None:
        model, selection = self.model, self.table.selectionModel()
        for i, path in enumerate(paths):
            index = model.index_of(path)
            if index.isValid():
                flags = QItemSelectionModel.Select | QItemSelectionModel.Rows
                if i == 0:
                    selection.setCurrentIndex(index, flags)
                else:
                    selection.select(index, flags)

    def _update_count(self) -> None:
        shown, total = len(self.model.rows), len(self.model.all_rows)
        ticked = len(self.model.checked)
        text = f"{total:,} runs" if shown == total else f"{shown:,} of {total:,} runs"
        self.count_label.setText(text + (f" · {ticked} overlaid" if ticked else ""))

    def rows(self):
        """The RunRows shown, in the table's order."""
        return list(self.model.rows)

    def runs(self) -> list[Run]:
        return [Run(r.path) for r in self.model.rows]

    def selected_rows(self, current_first: bool = True) -> list:
        """The selected RunRows in table order; the row clicked last first unless not `current_first`."""
        selection = self.table.selectionModel()
        if selection is None:
            return []
        current = selection.currentIndex()
        rows = sorted({i.row() for i in selection.selectedRows()})
        if current_first and current.isValid() and current.row() in rows:
            rows.remove(current.row())
            rows.insert(0, current.row())
        return [self.model.rows[i] for i in rows if i < len(self.model.rows)]

    def selected(self) -> Run | None:
        rows = self.selected_rows()
        return Run(rows[0].path) if rows else None

    def select(self, path: Path | None) -> None:
        self.table.clearSelection()
        if path is not None:
            index = self.model.index_of(path)
            if index.isValid():
                self.table.selectionModel().setCurrentIndex(
                    index, QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows
                )
                self.table.scrollTo(index)

    def overlays(self) -> list[Run]:
        return [Run(r.path) for r in self.model.checked_rows()]

    def overlay_requests(self) -> list[tuple[str, str, float]]:
        """(name, run folder, fork step or 0) of the ticked runs, in tick order."""
        return [(r.name, str(r.path), fork_step(r)) for r in self.model.checked_rows()]

    def set_overlay(self, path: Path, on: bool = True) -> None:
        self.model.set_checked(path, on)

    def toggle_selected_overlays(self) -> None:
        """Space: tick the selected runs for overlay (untick them when all are ticked already)."""
        rows = self.selected_rows(current_first=False)
        on = not all(str(r.path) in self.model.checked for r in rows)
        for row in rows:
            self.model.set_checked(row.path, on)

    def set_overlay_colors(self, colors: dict[str, str]) -> None:
        """Run folder -> its overlay colour: a swatch beside the run's name."""
        self.model.set_colors(colors)

    # -- actions
    # ---------------------------------------------------------------------------------------------------
    def rename_selected(self, name: str | None = None) -> None:
        run = self.selected()
        if run is None:
            return
        if name is None:
            name, ok = QInputDialog.getText(self, "Rename run", "Name:", text=self.selected_rows()[0].name)
            if not ok:
                return
        try:
            run.rename(name)
        except UserError as exc:
            QMessageBox.warning(self, "Cannot rename", str(exc))
            return
        self.reload()
        self.sig_changed.emit()

    def delete_selected(self, confirm: bool = True) -> None:
        rows = self.selected_rows()
        if not rows:
            return
        row = rows[0]
        if self.busy_run is not None and row.path == self.busy_run:
            QMessageBox.information(self, "Run in use", "This run is training; stop it before deleting it.")
            return
        if (
            confirm
            and QMessageBox.question(
                self,
                "Delete run",
                f"Delete run “{row.name}” and its checkpoints?\n{row.path}",
                QMessageBox.Yes | QMessageBox.No,
                QMessageBox.No,
            )
            != QMessageBox.Yes
        ):
            return
        try:
            Run(row.path).delete()
        except UserError as exc:
            QMessageBox.warning(self, "Cannot delete", str(exc))
            return
        self.reload()
        self.sig_selected.emit(None)
        self.sig_changed.emit()

    def fork_selected(self, checkpoint: str | None = None, changes: dict | None = None) -> bool:
        """Fork the selected run: the dialog asks for the checkpoint and the changed settings (or `checkpoint`,
        a label such as "best", and `changes` are given: no dialog). Emits sig_fork; False when nothing starts."""
        from workbench.ui.panels.training.runs_fork import choose_fork

        rows = self.selected_rows()
        chosen = choose_fork(self, rows[0], checkpoint, changes) if rows else None
        if chosen is not None:
            self.sig_fork.emit(*chosen)
        return chosen is not None

    def _emit_for_selected(self, signal) -> None:
        run = self.selected()
        if run is not None:
            signal.emit(run)

    def set_busy(self, busy: bool, run_path: Path | None = None) -> None:
        self.busy_run = run_path if busy else None
        self._busy = busy
        self._update_buttons()

    def _update_buttons(self) -> None:
        rows = self.selected_rows()
        has = bool(rows)
        for key in ("rename", "delete", "evaluate"):
            self.buttons[key].setEnabled(has)
        self.buttons["fork"].setEnabled(has and not self._busy and rows[0].status != "damaged")
        status = rows[0].status if has else ""
        self.buttons["resume"].setEnabled(has and not self._busy and status in RESUMABLE)
        self.buttons["resume"].setToolTip(
            "Continue the selected run from its last checkpoint (same step count)"
            if status in RESUMABLE or not has
            else f"This run is {status}: start a new run instead (Resume continues stopped or interrupted runs)"
        )

    # -- notes
    # -----------------------------------------------------------------------------------------------------
    def _show_notes(self, row) -> None:
        self.notes_edit.blockSignals(True)
        self.notes_edit.setPlainText(row.notes if row is not None else "")
        self.notes_edit.blockSignals(False)
        self.notes_edit.setEnabled(row is not None)
        self._notes_run = row.path if row is not None else None
        self.notes_label.setText(f"Notes on {row.name}" if row is not None else "Notes: select a run")

    def _on_notes_edit_changed(self) -> None:
        self._notes_timer.start()

    def _save_notes(self) -> None:
        self._notes_timer.stop()
        path = self._notes_run
        if path is None:
            return
        text = self.notes_edit.toPlainText()
        row = next((r for r in self.model.all_rows if r.path == path), None)
        if row is None or row.notes == text:
            return
        from workbench.core.training.run_table import set_notes

        try:
            set_notes(path, text)
        except UserError as exc:
            QMessageBox.warning(self, "Cannot save the notes", str(exc))
            return
        self.model.replace_row(replace(row, notes=text))

    # -- events
    # ----------------------------------------------------------------------------------------------------
    def _on_filter_edit_changed(self, text: str) -> None:
        selected = [str(r.path) for r in self.selected_rows()]
        self.table.selectionModel().blockSignals(True)
        self.model.set_filter(text)
        self._restore_selection(selected)
        self.table.selectionModel().blockSignals(False)
        self._update_count()

    def _on_model_checked_changed(self) -> None:
        self._update_count()
        self._overlay_timer.start()

    def _on_table_selection_changed(self, *_args) -> None:
        self._save_notes()
        self._on_selection_settled()
        self.sig_selected.emit(self.selected())

    def _on_selection_settled(self) -> None:
        rows = self.selected_rows()
        self._update_buttons()
        if rows and (self._notes_run is None or rows[0].path != self._notes_run):
            self._show_notes(rows[0])
        elif not rows:
            self._show_notes(None)
        self.diff.show_rows(self.selected_rows(current_first=False) if len(rows) > 1 else [])
