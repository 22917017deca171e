"""The run list: every folder in the project's runs/ (headless runs included), with status, epochs, best
accuracy and speed. Select to show a run's curves, tick to overlay it, rename, delete, resume, evaluate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import UserError
from workbench.core.training.runs import Run, list_runs

STATUS_COLORS = {
    "completed": "#2e7d32",
    "stopped": "#8d6e00",
    "failed": "#b00020",
    "interrupted": "#b00020",
    "running": "#1565c0",
}
COLUMNS = ("Run", "Status", "Epochs", "Best val", "LR", "Batch", "Samples/s", "Started")
RESUMABLE = ("stopped", "interrupted")  # a completed run has nothing left; a failed one fails again


def _settings(run: Run) -> tuple[str, str, int | None]:
    """(learning rate, batch size, planned epochs) from the run's config.json, so runs differ by more than id."""
    cfg = run.config.get("training") or {}
    lr, batch, epochs = cfg.get("lr"), cfg.get("batch_size"), cfg.get("epochs")
    return (
        f"{lr:.3g}" if isinstance(lr, int | float) else "",
        str(batch) if isinstance(batch, int) else "",
        epochs if isinstance(epochs, int) else None,
    )


def _started(run: Run) -> str:
    created = run.config.get("created")
    if not isinstance(created, int | float):
        return ""
    return dt.datetime.fromtimestamp(created).strftime("%Y-%m-%d %H:%M")


class RunsView(QWidget):
    sig_selected = Signal(object)  # Run or None
    sig_overlays_changed = Signal(list)  # [Run] ticked for overlay
    sig_resume = Signal(object)  # Run to continue from its last checkpoint
    sig_evaluate = Signal(object)  # Run to evaluate
    sig_changed = Signal()  # renamed / deleted

    def __init__(self, parent=None):
        super().__init__(parent)
        self.root = None  # a Path, or a callable giving it (the project's runs move on Save As)
        self.busy_run: Path | None = None  # the live run (cannot be deleted)
        self.tree = QTreeWidget()
        self.tree.setObjectName("runList")
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.headerItem().setToolTip(
            COLUMNS.index("Best val"),
            "best validation accuracy; for a language model the lowest perplexity (ppl)",
        )
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeToContents)
        self.tree.itemSelectionChanged.connect(self._on_tree_selection_changed)
        self.tree.itemChanged.connect(self._on_tree_item_changed)
        self.tree.itemDoubleClicked.connect(lambda *_: self.rename_selected())
        self.empty = QLabel(
            "No runs yet: press Start, or train headless with `workbench train PROJECT`; runs appear here."
        )
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #666; padding: 8px;")
        buttons = QHBoxLayout()
        self.buttons = {}
        for key, text, tip in (
            ("refresh", "Refresh", "Read the runs/ folder again"),
            ("rename", "Rename…", "Give the selected run a name"),
            ("delete", "Delete…", "Delete the selected run's folder"),
            ("resume", "Resume", "Continue the selected run from its last checkpoint (same step count)"),
            ("evaluate", "Evaluate", "Confusion matrix and per-class scores of the selected run"),
        ):
            button = QPushButton(text)
            button.setObjectName(f"{key}RunButton")
            button.setToolTip(tip)
            buttons.addWidget(button)
            self.buttons[key] = button
        buttons.addStretch(1)
        self.buttons["refresh"].clicked.connect(self.reload)
        self.buttons["rename"].clicked.connect(lambda: self.rename_selected())
        self.buttons["delete"].clicked.connect(lambda: self.delete_selected())
        self.buttons["resume"].clicked.connect(lambda: self._emit_for_selected(self.sig_resume))
        self.buttons["evaluate"].clicked.connect(lambda: self._emit_for_selected(self.sig_evaluate))
        hint = QLabel("Tick runs to overlay their curves.")
        hint.setStyleSheet("color: #666;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty)
        layout.addWidget(hint)
        self._update_buttons()

    # -- contents
    # --------------------------------------------------------------------------------------------------
    def set_root(self, root) -> None:
        """`root`: the runs folder, or a function that returns it (asked again on every reload)."""
        self.root = root
        self.reload()

    def root_path(self) -> Path | None:
        return self.root() if callable(self.root) else self.root

    def runs(self) -> list[Run]:
        return [self.tree.topLevelItem(i).data(0, Qt.UserRole) for i in range(self.tree.topLevelItemCount())]

    def reload(self) -> None:
        selected = self.selected()
        ticked = {r.path for r in self.overlays()}
        self.tree.blockSignals(True)
        self.tree.clear()
        for run in reversed(list_runs(self.root_path())):  # newest first
            summary = run.summary or {}
            status = run.status
            best = summary.get("best_val_accuracy")
            sps = summary.get("samples_per_second")
            epochs = summary.get("epochs_completed")
            if epochs is None:
                epochs = ""
                if status in ("running", "interrupted"):  # no summary yet (or ever): read the curves so far
                    done = run.metrics().epochs
                    epochs = len(done)
                    accuracies = [e["val_accuracy"] for e in done if e.get("val_accuracy") is not None]
                    best = max(accuracies) if accuracies else None
            best_text = f"{best:.4f}" if best is not None else ""
            if (run.config.get("dataset_meta") or {}).get("task") == "language_model":
                ppl = [
                    e["val_perplexity"] for e in run.metrics().epochs if e.get("val_perplexity") is not None
                ]
                best_text = (
                    f"ppl {min(ppl):.2f}" if ppl else ""
                )  # a language model: the lowest val perplexity
            lr, batch, planned = _settings(run)
            if planned is not None and epochs != "":
                epochs = f"{epochs}/{planned}"
            item = QTreeWidgetItem(
                [
                    run.name,
                    status,
                    str(epochs),
                    best_text,
                    lr,
                    batch,
                    f"{sps:,.0f}" if sps else "",
                    _started(run),
                ]
            )
            item.setData(0, Qt.UserRole, run)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(0, Qt.Checked if run.path in ticked else Qt.Unchecked)
            item.setForeground(1, QColor(STATUS_COLORS.get(status, "#333")))
            message = summary.get("message") or ""
            item.setToolTip(0, f"{run.path}\n{message}".strip())
            item.setToolTip(1, message or status)
            self.tree.addTopLevelItem(item)
            if selected is not None and run.path == selected.path:
                item.setSelected(True)
        self.tree.blockSignals(False)
        self.empty.setVisible(self.tree.topLevelItemCount() == 0)
        self.tree.setVisible(self.tree.topLevelItemCount() > 0)
        self._update_buttons()

    def selected(self) -> Run | None:
        items = self.tree.selectedItems()
        return items[0].data(0, Qt.UserRole) if items else None

    def select(self, path: Path | None) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            item.setSelected(path is not None and item.data(0, Qt.UserRole).path == Path(path))

    def overlays(self) -> list[Run]:
        out = []
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.checkState(0) == Qt.Checked:
                out.append(item.data(0, Qt.UserRole))
        return out

    def set_overlay(self, path: Path, on: bool = True) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, Qt.UserRole).path == Path(path):
                item.setCheckState(0, Qt.Checked if on else Qt.Unchecked)

    # -- actions
    # ---------------------------------------------------------------------------------------------------
    def rename_selected(self, name: str | None = None) -> None:
        run = self.selected()
        if run is None:
            return
        if name is None:
            name, ok = QInputDialog.getText(self, "Rename run", "Name:", text=run.name)
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
        run = self.selected()
        if run is None:
            return
        if self.busy_run is not None and run.path == self.busy_run:
            QMessageBox.information(self, "Run in use", "This run is training; stop it before deleting it.")
            return
        if (
            confirm
            and QMessageBox.question(
                self,
                "Delete run",
                f"Delete run “{run.name}” and its checkpoints?\n{run.path}",
                QMessageBox.Yes | QMessageBox.No,
                QMessageBox.No,
            )
            != QMessageBox.Yes
        ):
            return
        try:
            run.delete()
        except UserError as exc:
            QMessageBox.warning(self, "Cannot delete", str(exc))
            return
        self.reload()
        self.sig_selected.emit(None)
        self.sig_changed.emit()

    def _emit_for_selected(self, signal) -> None:
        run = self.selected()
        if run is not None:
            signal.emit(run)

    def set_busy(self, busy: bool, run_path: Path | None = None) -> None:
        self.busy_run = run_path if busy else None
        self._busy = busy
        self._update_buttons()

    def _update_buttons(self) -> None:
        run = self.selected()
        has = run is not None
        busy = getattr(self, "_busy", False)
        for key in ("rename", "delete", "evaluate"):
            self.buttons[key].setEnabled(has)
        status = self.tree.selectedItems()[0].text(1) if has else ""
        self.buttons["resume"].setEnabled(has and not busy and status in RESUMABLE)
        self.buttons["resume"].setToolTip(
            "Continue the selected run from its last checkpoint (same step count)"
            if status in RESUMABLE or not has
            else f"This run is {status}: start a new run instead (Resume continues stopped or interrupted runs)"
        )

    def _on_tree_selection_changed(self) -> None:
        self._update_buttons()
        self.sig_selected.emit(self.selected())

    def _on_tree_item_changed(self, item, column: int) -> None:
        if column == 0:
            self.sig_overlays_changed.emit(self.overlays())
