"""The training settings form, bound to `session.project.training`: each edit validates and goes through
`session.update_training`; changes from elsewhere (open, undo, another view) refresh it without echo."""

from __future__ import annotations

from pydantic import ValidationError
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import describe_validation_error
from workbench.core.training.config import TrainingConfig
from workbench.ui.panels.training.memory_box import MemoryBox

OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop"}
SCHEDULERS = {
    "none": "none",
    "step": "StepLR",
    "cosine": "Cosine annealing",
    "onecycle": "OneCycle",
    "plateau": "ReduceLROnPlateau",
}
LOSSES = {"cross_entropy": "Cross-entropy", "mse": "MSE (regression)"}
PRECISIONS = {"fp32": "fp32", "bf16": "bf16 (CUDA)", "fp16": "fp16 + loss scaling (CUDA)"}
METRICS = {"val_loss": "val loss", "val_accuracy": "val accuracy"}
FINETUNE = {"full": "Full", "freeze": "Freeze imported", "lora": "LoRA (peft)"}


def _combo(choices: dict[str, str]) -> QComboBox:
    box = QComboBox()
    for value, text in choices.items():
        box.addItem(text, value)
    return box


def _spin(lo: int, hi: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    return box


def _float(lo: float, hi: float, decimals: int, step: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    return box


class TrainingSettingsForm(QScrollArea):
    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self._updating = False
        self.setWidgetResizable(True)
        inner = QWidget()
        self.setWidget(inner)
        self.w = {
            "epochs": _spin(1, 100_000),
            "batch_size": _spin(1, 1_000_000),
            "optimizer": _combo(OPTIMIZERS),
            "lr": _float(1e-7, 10, 7, 1e-4),
            "momentum": _float(0, 0.999, 3, 0.01),
            "nesterov": QCheckBox(),
            "weight_decay": _float(0, 1, 6, 1e-4),
            "scheduler": _combo(SCHEDULERS),
            "step_size": _spin(1, 100_000),
            "gamma": _float(0.001, 1, 3, 0.05),
            "plateau_patience": _spin(0, 1000),
            "loss": _combo(LOSSES),
            "label_smoothing": _float(0, 0.99, 3, 0.05),
            "precision": _combo(PRECISIONS),
            "grad_accumulation_steps": _spin(1, 4096),
            "activation_checkpointing": QCheckBox(),
            "grad_clip_on": QCheckBox(),
            "grad_clip": _float(0.001, 1e6, 3, 0.5),
            "seed": _spin(0, 2**31 - 1),
            "early_stopping": QCheckBox(),
            "early_stopping_metric": _combo(METRICS),
            "patience": _spin(1, 10_000),
            "save_best": QCheckBox(),
            "keep_epoch_checkpoints": QCheckBox(),
            "num_workers": _spin(0, 64),
            "finetune": _combo(FINETUNE),
            "lora_rank": _spin(1, 4096),
            "lora_alpha": _float(0.01, 100_000, 2, 1.0),
            "lora_dropout": _float(0, 0.99, 2, 0.05),
        }
        self.w["finetune"].setObjectName("finetuneCombo")
        self.w["lora_rank"].setObjectName("loraRankSpin")
        self.w["finetune"].setToolTip(
            "Fine-tuning: every weight, only what is new beside an imported model (its head), or LoRA adapters "
            "on the attention (query/value) or Linear layers; locked blocks in the builder stay fixed in all three"
        )
        self.w["lr"].setToolTip("Learning rate (the peak for OneCycle)")
        self.w["batch_size"].setObjectName("batchSizeSpin")
        self.w["grad_accumulation_steps"].setObjectName("gradAccumulationSpin")
        self.w["grad_accumulation_steps"].setToolTip(
            "Micro-batches per optimizer step: the effective batch is batch size × steps, with the memory of one "
            "batch (same results as the larger batch)"
        )
        self.w["activation_checkpointing"].setObjectName("activationCheckpointingCheck")
        self.w["activation_checkpointing"].setToolTip(
            "Keep only each block's input in the forward pass and recompute the rest in backward: less memory, "
            "about one more forward pass of time"
        )
        self.w["epochs"].setObjectName("epochsSpin")
        self.w["keep_epoch_checkpoints"].setObjectName("keepEpochCheckpointsCheck")
        self.w["keep_epoch_checkpoints"].setToolTip(
            "Save checkpoints/epoch-N after every epoch (weights and optimizer state, each as large as the last "
            "checkpoint): a run can then be forked from any epoch"
        )
        self.device_label = QLabel()
        self.device_label.setWordWrap(True)
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.setWordWrap(True)
        self.error_label.hide()

        left, right = QFormLayout(), QFormLayout()
        w = self.w
        left.addRow("Epochs", w["epochs"])
        left.addRow("Batch size", w["batch_size"])
        left.addRow("Optimizer", w["optimizer"])
        left.addRow("Learning rate", w["lr"])
        left.addRow("Momentum", w["momentum"])
        left.addRow("Nesterov", w["nesterov"])
        left.addRow("Weight decay", w["weight_decay"])
        left.addRow("Loss", w["loss"])
        left.addRow("Label smoothing", w["label_smoothing"])
        left.addRow("Seed", w["seed"])
        right.addRow("Scheduler", w["scheduler"])
        right.addRow("Step size (epochs)", w["step_size"])
        right.addRow("Factor (gamma)", w["gamma"])
        right.addRow("Plateau patience", w["plateau_patience"])
        right.addRow("Precision", w["precision"])
        right.addRow("Accumulation steps", w["grad_accumulation_steps"])
        right.addRow("Activation checkpointing", w["activation_checkpointing"])
        clip = QHBoxLayout()
        clip.addWidget(w["grad_clip_on"])
        clip.addWidget(w["grad_clip"], 1)
        right.addRow("Clip grad norm", clip)
        right.addRow("Early stopping", w["early_stopping"])
        right.addRow("  watch", w["early_stopping_metric"])
        right.addRow("  patience (epochs)", w["patience"])
        right.addRow("Save best checkpoint", w["save_best"])
        right.addRow("Keep every epoch's checkpoint", w["keep_epoch_checkpoints"])
        right.addRow("Loader workers", w["num_workers"])
        left.addRow("Fine-tuning", w["finetune"])
        left.addRow("  LoRA rank", w["lora_rank"])
        left.addRow("  LoRA alpha", w["lora_alpha"])
        left.addRow("  LoRA dropout", w["lora_dropout"])
        columns = QHBoxLayout()
        columns.addLayout(left, 1)
        columns.addSpacing(16)
        columns.addLayout(right, 1)
        layout = QVBoxLayout(inner)
        self.memory_box = MemoryBox(session)  # the traced peak of the next run, and fixes when it won't fit
        layout.addWidget(self.memory_box)  # first: seen before Start without scrolling
        layout.addLayout(columns)
        layout.addWidget(self.device_label)
        layout.addWidget(self.error_label)
        layout.addStretch(1)

        for widget in self.w.values():
            signal = (
                widget.toggled
                if isinstance(widget, QCheckBox)
                else widget.currentIndexChanged
                if isinstance(widget, QComboBox)
                else widget.valueChanged
            )
            signal.connect(self._on_widget_changed)
        session.sig_training_changed.connect(self.read)
        session.sig_project_loaded.connect(self.read)
        session.sig_device_changed.connect(self._on_session_device_changed)
        self.read()
        self._on_session_device_changed(session.device)

    def read(self) -> None:
        """Show `session.project.training` (no echo back into the session)."""
        cfg = self.session.project.training
        self._updating = True
        try:
            for key, widget in self.w.items():
                if key == "grad_clip_on":
                    widget.setChecked(cfg.grad_clip is not None)
                elif key == "grad_clip":
                    widget.setValue(cfg.grad_clip or 1.0)
                elif isinstance(widget, QComboBox):
                    widget.setCurrentIndex(max(0, widget.findData(getattr(cfg, key))))
                elif isinstance(widget, QCheckBox):
                    widget.setChecked(bool(getattr(cfg, key)))
                else:
                    widget.setValue(getattr(cfg, key))
        finally:
            self._updating = False
        self._enable_dependents()
        self.error_label.hide()

    def value(self) -> TrainingConfig:
        data = self.session.project.training.model_dump()
        for key, widget in self.w.items():
            if key in ("grad_clip_on", "grad_clip"):
                continue
            if isinstance(widget, QComboBox):
                data[key] = widget.currentData()
            elif isinstance(widget, QCheckBox):
                data[key] = widget.isChecked()
            else:
                data[key] = widget.value()
        data["grad_clip"] = self.w["grad_clip"].value() if self.w["grad_clip_on"].isChecked() else None
        return TrainingConfig.model_validate(data)

    def _on_widget_changed(self, *_args) -> None:
        self._enable_dependents()
        if self._updating:
            return
        try:
            config = self.value()
        except ValidationError as exc:
            self.error_label.setText(describe_validation_error(exc, "Not applied"))
            self.error_label.show()
            return
        self.error_label.hide()
        self.session.update_training(config)

    def _enable_dependents(self) -> None:
        w = self.w
        sgd_like = w["optimizer"].currentData() in ("sgd", "rmsprop")
        w["momentum"].setEnabled(sgd_like)
        w["nesterov"].setEnabled(w["optimizer"].currentData() == "sgd")
        sched = w["scheduler"].currentData()
        w["step_size"].setEnabled(sched == "step")
        w["gamma"].setEnabled(sched in ("step", "plateau"))
        w["plateau_patience"].setEnabled(sched == "plateau")
        w["label_smoothing"].setEnabled(w["loss"].currentData() == "cross_entropy")
        w["grad_clip"].setEnabled(w["grad_clip_on"].isChecked())
        for key in ("early_stopping_metric", "patience"):
            w[key].setEnabled(w["early_stopping"].isChecked())
        for key in ("lora_rank", "lora_alpha", "lora_dropout"):
            w[key].setEnabled(w["finetune"].currentData() == "lora")

    def _on_session_device_changed(self, device: str) -> None:
        self.device_label.setText(
            f"Device: <b>{device}</b> (choose it in the toolbar or the Hardware panel; "
            "auto = the first CUDA GPU, else the CPU)"
        )

    def set_locked(self, locked: bool) -> None:
        """Settings cannot change while a run uses them."""
        self.widget().setEnabled(not locked)
        if not locked:
            self._enable_dependents()
