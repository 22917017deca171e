"""NotRespondingBanner: the trainer process has not answered for a few seconds (stopped, or hung). It says so,
with the way out: Wait (ask again later) or End it (the process is killed; a training run ends as interrupted,
resumable from its last checkpoint, and a fresh trainer process starts). It hides by itself when the trainer
answers again. The trainer beats from a thread of its own, so a long step is never reported (workbench.ui.jobs)."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton


class NotRespondingBanner(QFrame):
    def __init__(self, host, parent=None):
        super().__init__(parent)
        self.host = host
        self.setObjectName("trainerNotRespondingBanner")
        self.setStyleSheet(
            "#trainerNotRespondingBanner { background: #fff4e5; border: 1px solid #f0c36d; border-radius: 4px; }"
        )
        self.label = QLabel()
        self.label.setObjectName("trainerNotRespondingLabel")
        self.label.setWordWrap(True)
        self.wait_button = QPushButton("Wait")
        self.wait_button.setObjectName("trainerWaitButton")
        self.wait_button.setToolTip("Keep waiting; ask again if it stays silent")
        self.end_button = QPushButton("End it")
        self.end_button.setObjectName("trainerEndButton")
        self.end_button.setToolTip(
            "Kill the trainer process: a training run ends as interrupted and can be resumed from its last "
            "checkpoint; a fresh trainer process starts"
        )
        self.wait_button.clicked.connect(self._on_wait_clicked)
        self.end_button.clicked.connect(self._on_end_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.wait_button)
        layout.addWidget(self.end_button)
        host.sig_not_responding.connect(self._on_host_not_responding)
        host.sig_responding.connect(self.hide)
        self.hide()

    def _on_host_not_responding(self, seconds: float) -> None:
        self.label.setText(
            f"<b>The trainer is not responding</b> (no answer for {seconds:.0f} s). Wait, or end it: a training "
            "run stays resumable from its last checkpoint."
        )
        self.show()

    def _on_wait_clicked(self) -> None:
        self.host.wait_longer()
        self.hide()

    def _on_end_clicked(self) -> None:
        self.hide()
        self.host.end_unresponsive()
