"""Spec > Export code…: the generated PyTorch module shown before it is written (read, copy, then Save as…)."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout


class CodePreviewDialog(QDialog):
    """`save()` is the caller's: it asks where and writes the file (returns True when written)."""

    def __init__(self, source: str, save, parent=None):
        super().__init__(parent)
        self.setObjectName("codePreviewDialog")
        self.setWindowTitle("PyTorch code")
        self.resize(720, 560)
        self._save = save
        note = QLabel(
            "A standalone module file that imports only torch (and torchvision for backbones): "
            "from model import Model; net = Model()."
        )
        note.setWordWrap(True)
        self.text = QPlainTextEdit(source)
        self.text.setObjectName("codePreview")
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Close)
        self.buttons.button(QDialogButtonBox.Save).setText("Save as…")
        self.copy_button = self.buttons.addButton("Copy", QDialogButtonBox.ActionRole)
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.text.toPlainText()))
        self.buttons.accepted.connect(self._on_save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.buttons)

    def _on_save(self) -> None:
        if self._save():
            self.accept()
