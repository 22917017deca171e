"""The "sample text" box of a language-model run: a prompt, how much to generate and how, a Generate button
and the text the model wrote (the prompt in grey, the continuation in black). The generation itself runs in
the trainer process (job "generate", workbench.core.training.generation)."""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

HINT = "Type a prompt and press Generate: the model continues it, one token at a time."


class SampleBox(QWidget):
    sig_generate_requested = Signal(dict)  # prompt, max_new_tokens, temperature, top_k, seed
    sig_stop_requested = Signal()  # Stop while generating: the text so far stays

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("sampleBox")
        self.busy = False  # generating: the Generate button reads Stop
        self.prompt_edit = QLineEdit()
        self.prompt_edit.setObjectName("samplePromptEdit")
        self.prompt_edit.setPlaceholderText("a prompt, e.g. The licenses for most software")
        self.prompt_edit.returnPressed.connect(self._on_generate_clicked)
        self.length_spin = QSpinBox()
        self.length_spin.setObjectName("sampleLengthSpin")
        self.length_spin.setRange(1, 10_000)
        self.length_spin.setValue(200)
        self.length_spin.setSuffix(" tokens")
        self.temperature_spin = QDoubleSpinBox()
        self.temperature_spin.setObjectName("sampleTemperatureSpin")
        self.temperature_spin.setRange(0.0, 5.0)
        self.temperature_spin.setDecimals(2)
        self.temperature_spin.setSingleStep(0.1)
        self.temperature_spin.setValue(0.8)
        self.temperature_spin.setToolTip("0 = greedy (always the most likely token); higher = more varied")
        self.top_k_spin = QSpinBox()
        self.top_k_spin.setObjectName("sampleTopKSpin")
        self.top_k_spin.setRange(0, 1_000_000)
        self.top_k_spin.setSpecialValueText("all")
        self.top_k_spin.setToolTip("sample among the k most likely tokens only (all: no limit)")
        self.seed_spin = QSpinBox()
        self.seed_spin.setObjectName("sampleSeedSpin")
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("the same seed, prompt and settings give the same text")
        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("generateButton")
        self.generate_button.setDefault(True)
        self.generate_button.clicked.connect(self._on_generate_clicked)
        self.status = QLabel(HINT)
        self.status.setObjectName("sampleStatus")
        self.status.setWordWrap(True)
        self.output = QTextEdit()
        self.output.setObjectName("sampleOutput")
        self.output.setReadOnly(True)
        self.output.setPlaceholderText("The generated text appears here.")

        prompt_row = QHBoxLayout()
        prompt_row.addWidget(self.prompt_edit, 1)
        prompt_row.addWidget(self.generate_button)
        form = QFormLayout()
        form.addRow("Prompt", prompt_row)
        knobs = QHBoxLayout()
        for label, widget in (
            ("Length", self.length_spin),
            ("Temperature", self.temperature_spin),
            ("Top-k", self.top_k_spin),
            ("Seed", self.seed_spin),
        ):
            knobs.addWidget(QLabel(label))
            knobs.addWidget(widget)
            knobs.addSpacing(8)
        knobs.addStretch(1)
        form.addRow("", knobs)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.output, 1)

    def options(self) -> dict:
        return {
            "prompt": self.prompt_edit.text(),
            "max_new_tokens": self.length_spin.value(),
            "temperature": round(self.temperature_spin.value(), 2),
            "top_k": self.top_k_spin.value(),
            "seed": self.seed_spin.value(),
        }

    def _on_generate_clicked(self) -> None:
        if self.busy:
            if self.sender() is self.generate_button:  # (Return in the prompt never stops a generation)
                self.sig_stop_requested.emit()
        elif self.generate_button.isEnabled():
            self.sig_generate_requested.emit(self.options())

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.generate_button.setText("Stop" if busy else "Generate")
        self.generate_button.setToolTip("Stop generating (the text so far stays)" if busy else "")

    def set_run(self, name: str) -> None:
        self.status.setText(f"<b>{html.escape(name)}</b>: {HINT}")
        self.output.clear()
        self._set_busy(False)

    def set_busy(self) -> None:
        self.status.setText("Generating…")
        self._set_busy(True)

    def set_error(self, text: str) -> None:
        self.status.setText(f"<span style='color:#b00020'>{html.escape(text)}</span>")
        self._set_busy(False)

    def set_stopped(self) -> None:
        """Stopped by the user: the partial text stays."""
        self._set_busy(False)
        self.status.setText(f"Stopped: {self.status.text().removeprefix('Generating… ')} generated")

    def set_sample(self, sample) -> None:
        """Show a Sample (workbench.core.training.generation): the prompt in grey, then the new text; a partial
        one (the text still growing) with the count so far."""
        done = getattr(sample, "complete", True)
        self._set_busy(not done)
        how = "greedy" if sample.temperature == 0 else f"temperature {sample.temperature:g}"
        if sample.top_k:
            how += f", top-{sample.top_k}"
        checkpoint = (sample.checkpoint or "").rsplit("/", 1)[-1].removesuffix(".safetensors")
        if done:
            self.status.setText(
                f"{len(sample.tokens)} tokens, {how}, seed {sample.seed}"
                + (f", {checkpoint} checkpoint" if checkpoint else "")
            )
        else:
            self.status.setText(f"Generating… {len(sample.tokens)} of {sample.max_new_tokens} tokens")
        prompt = html.escape(sample.prompt).replace("\n", "<br>")
        text = html.escape(sample.text).replace("\n", "<br>")
        self.output.setHtml(
            f"<div style='font-family: monospace; white-space: pre-wrap'>"
            f"<span style='color:#888'>{prompt}</span>{text}</div>"
        )

    def text(self) -> str:
        return self.output.toPlainText()
