"""Fork: a new run from any checkpoint of an old one, with changed settings (issue 26).

The dialog offers the run's checkpoints (training/fork.py fork_points: last, best, epoch-N, with their step and
epoch) and the settings a fork usually changes, filled in from the run's own config: learning rate, epochs
(more than the checkpoint's epoch) and fine-tuning method. The fork trains with the run's training settings and
these changes (the project's document is not edited); its config records the parent and the fork step, and its
overlay continues from there.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QSpinBox,
    QVBoxLayout,
)

FINETUNE = ("full", "freeze", "lora")


def _lr_text(value) -> str:
    return f"{value:g}" if isinstance(value, int | float) else "0.001"


class ForkDialog(QDialog):
    """`training`: the run's training settings (config.json "training"); `points`: its ForkPoints."""

    def __init__(self, run_name: str, training: dict, points: list, parent=None):
        super().__init__(parent)
        self.setObjectName("forkDialog")
        self.setWindowTitle(f"Fork {run_name}")
        self.points = points
        self.checkpoint = QComboBox()
        self.checkpoint.setObjectName("forkCheckpointCombo")
        for point in points:
            where = ", ".join(
                part
                for part in (
                    f"step {point.step}" if point.step is not None else "",
                    f"epoch {point.epoch}" if point.epoch is not None else "",
                )
                if part
            )
            self.checkpoint.addItem(f"{point.label} ({where})" if where else point.label)
        self.lr = QLineEdit(_lr_text(training.get("lr")))
        self.lr.setObjectName("forkLrEdit")
        self.epochs = QSpinBox()
        self.epochs.setObjectName("forkEpochsSpin")
        self.epochs.setRange(1, 100_000)
        self.planned = int(training.get("epochs") or 10)
        self.epochs.setValue(self.planned)
        self.finetune = QComboBox()
        self.finetune.setObjectName("forkFinetuneCombo")
        self.finetune.addItems(FINETUNE)
        if training.get("finetune") in FINETUNE:
            self.finetune.setCurrentText(training["finetune"])
        self.message = QLabel()
        self.message.setObjectName("forkMessage")
        self.message.setStyleSheet("color: #b00020;")
        self.message.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Start from checkpoint", self.checkpoint)
        form.addRow("Learning rate", self.lr)
        form.addRow("Epochs (in all)", self.epochs)
        form.addRow("Fine-tuning", self.finetune)
        note = QLabel(
            "The fork trains with this run's settings and these changes, from the chosen checkpoint's weights; "
            "it records this run as its parent and its curves continue from the fork step."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: #555;")
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Start fork")
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.checkpoint.currentIndexChanged.connect(self._on_checkpoint_changed)
        self._on_checkpoint_changed(self.checkpoint.currentIndex())

    def _on_checkpoint_changed(self, index: int) -> None:
        """Epochs must go past the checkpoint's epoch (a fork trains at least one more): the run's own epochs, or
        one more than the checkpoint's when it is at the end."""
        point = self.points[index] if 0 <= index < len(self.points) else None
        done = point.epoch - (0 if point.epoch_complete is not False else 1) if point and point.epoch else 0
        self.epochs.setMinimum(max(1, done + 1))
        self.epochs.setValue(max(self.planned, done + 1))

    def checkpoint_path(self) -> Path:
        return self.points[self.checkpoint.currentIndex()].path

    def changes(self) -> dict:
        """The training settings the fork changes: lr, epochs, finetune."""
        return {
            "lr": float(self.lr.text()),
            "epochs": self.epochs.value(),
            "finetune": self.finetune.currentText(),
        }

    def _on_buttons_accepted(self) -> None:
        try:
            lr = float(self.lr.text())
        except ValueError:
            lr = -1.0
        if not 0 < lr <= 10:
            self.message.setText(f"learning rate '{self.lr.text()}' is not a number in (0, 10]; e.g. 0.0003")
            return
        self.accept()


def choose_fork(
    widget, row, checkpoint: str | None = None, changes: dict | None = None
) -> tuple[Path, dict] | None:
    """(checkpoint file, training changes) for a fork of the run `row`: asked in a ForkDialog, or `checkpoint` (a
    label: last, best, epoch-N) and `changes` as given. None when the run has no such checkpoint or the user
    cancels (a run without checkpoints, or a missing label, is said in one line)."""
    from workbench.core.training.fork import fork_points
    from workbench.core.training.runs import Run

    points = fork_points(row.path)
    if not points:
        QMessageBox.information(
            widget, "Nothing to fork from", f"Run {row.name} has no checkpoint to fork from (it saved none)."
        )
        return None
    if checkpoint is None:
        training = Run(row.path).config.get("training") or {}
        dialog = ForkDialog(row.name, training if isinstance(training, dict) else {}, points, widget)
        if dialog.exec() != QDialog.Accepted:
            return None
        return dialog.checkpoint_path(), dialog.changes()
    match = [p for p in points if p.label == checkpoint]
    if not match:
        offered = ", ".join(p.label for p in points)
        QMessageBox.warning(
            widget, "Cannot fork", f"run {row.name} has no '{checkpoint}' checkpoint ({offered})"
        )
        return None
    return match[0].path, dict(changes or {})
