"""The training settings' memory line: the traced peak of the next run (session.memory, ui/memory.py), whether it
fits the chosen device, and, when it will not, one-click fixes that change the settings before Start: mixed
precision, the largest batch that fits with gradient accumulation keeping the effective batch, the largest batch
alone, and activation checkpointing. Each fix changes the estimate (the plan is traced again)."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from workbench.core.hardware.fit import fit_warning
from workbench.core.units import bytes_text


class MemoryBox(QFrame):
    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.setObjectName("memoryPlanBox")
        self.label = QLabel()
        self.label.setObjectName("memoryPlanLabel")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.RichText)
        self.fixes = QHBoxLayout()
        self.fixes.setContentsMargins(0, 0, 0, 0)
        self.buttons = {
            "amp": self._button(
                "memoryFixAmp", "Use bf16", "bf16 mixed precision (autocast): about half the activations"
            ),
            "accumulate": self._button("memoryFixAccumulate", ""),
            "batch": self._button("memoryFixBatch", ""),
            "checkpointing": self._button(
                "memoryFixCheckpointing",
                "Checkpoint activations",
                "Recompute each block's activations in backward instead of keeping them",
            ),
        }
        self.fixes.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 4)
        layout.addWidget(self.label)
        layout.addLayout(self.fixes)
        session.memory.sig_plan.connect(self.show_plan)
        session.memory.sig_planning.connect(self._on_planning)
        session.sig_hardware.connect(self._on_hardware)
        self._fits: bool | None = None
        self.show_plan(session.memory.plan)

    def _button(self, name: str, text: str, tip: str = "") -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.setObjectName(name)
        button.clicked.connect(lambda _=False, key=name: self._apply(key))
        button.hide()
        self.fixes.addWidget(button)
        return button

    def _on_planning(self) -> None:
        if self.session.memory.plan is None:
            self.label.setText("<span style='color:#666'>Memory: tracing a training step…</span>")

    def _on_hardware(self, _snapshot) -> None:
        plan = self.session.memory.plan
        if plan is not None and self._verdict(plan)[0] != self._fits:
            self.show_plan(plan)

    def _verdict(self, plan) -> tuple[bool | None, str | None]:
        latest = self.session.memory.latest
        warning = fit_warning(plan, self.session.device, latest) if latest is not None else plan.advice()
        if warning:
            return False, warning
        return (plan.fits if latest is None else True), None

    def show_plan(self, plan) -> None:
        for button in self.buttons.values():
            button.hide()
        if plan is None:
            error = self.session.memory.error
            self.label.setText(
                f"<span style='color:#8a6100'>Memory: not estimated ({error})</span>" if error else ""
            )
            self._fits = None
            return
        est = plan.estimate
        options = [f"batch {est.batch_size}"]
        if est.grad_accumulation_steps > 1:
            options[0] += f" × {est.grad_accumulation_steps} steps"
        options.append(est.precision)
        if est.activation_checkpointing:
            options.append("checkpointed")
        text = (
            f"Memory: <b>peak {bytes_text(est.peak_bytes)}</b> per step on {plan.device} ({', '.join(options)}; "
            f"{est.method})"
        )
        fits, warning = self._verdict(plan)
        self._fits = fits
        if warning:
            text += f"<br><span style='color:#b00020'>⚠ {warning}</span>"
            self._offer_fixes(plan)
        elif fits:
            largest = f"; largest batch that fits: {plan.max_batch_size:,}" if plan.max_batch_size else ""
            text += (
                f" — <span style='color:#2e7d32'>fits: needs {bytes_text(plan.needed_bytes)} with headroom, "
                f"{bytes_text(plan.available_bytes)} free{largest}</span>"
            )
        self.label.setText(text)

    def _offer_fixes(self, plan) -> None:
        est, config = plan.estimate, self.session.project.training
        if plan.device.startswith("cuda") and config.precision == "fp32":
            self.buttons["amp"].show()
        best = plan.max_batch_size
        if best and best < est.batch_size:
            steps = math.ceil(est.batch_size * est.grad_accumulation_steps / best)
            self.buttons["accumulate"].setText(f"Batch {best} × {steps} steps")
            self.buttons["accumulate"].setToolTip(
                f"Batch size {best} with {steps} gradient accumulation steps: the same effective batch, the memory "
                f"of a batch of {best}"
            )
            self.buttons["accumulate"].show()
            self.buttons["batch"].setText(f"Batch {best}")
            self.buttons["batch"].show()
        if not config.activation_checkpointing:
            self.buttons["checkpointing"].show()

    def _apply(self, name: str) -> None:
        plan, config = self.session.memory.plan, self.session.project.training
        if plan is None:
            return
        best = plan.max_batch_size or config.batch_size
        update: dict = {
            "memoryFixAmp": {"precision": "bf16"},
            "memoryFixBatch": {"batch_size": best},
            "memoryFixCheckpointing": {"activation_checkpointing": True},
        }.get(name, {})
        if name == "memoryFixAccumulate":
            effective = config.batch_size * config.grad_accumulation_steps
            update = {"batch_size": best, "grad_accumulation_steps": math.ceil(effective / best)}
        self.session.update_training(config.model_copy(update=update))


class FitBadge(QLabel):
    """Beside Start: a short warning when the next run will not fit its device; the link opens the settings,
    where the memory line offers the fixes. Hidden when it fits or nothing is planned."""

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.setObjectName("memoryFitBadge")
        self.setTextFormat(Qt.RichText)
        session.memory.sig_plan.connect(self.refresh)
        session.sig_hardware.connect(self.refresh)
        self.refresh()

    def refresh(self, *_args) -> None:
        plan, latest = self.session.memory.plan, self.session.memory.latest
        warning = None
        if plan is not None:
            warning = fit_warning(plan, self.session.device, latest) if latest is not None else plan.advice()
        text = (
            f"<span style='color:#b00020'>⚠ will not fit {plan.device}</span> · <a href='settings'>fixes…</a>"
            if warning and plan is not None
            else ""
        )
        if text != self.text():
            self.setText(text)
            self.setToolTip(warning or "")
        self.setVisible(bool(text))
