"""The panel class, imported only when the main window builds its dock."""

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class HelloPanel(QWidget):
    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.label = QLabel()
        self.label.setObjectName("helloLabel")
        QVBoxLayout(self).addWidget(self.label)
        session.sig_project_loaded.connect(self._on_session_project_loaded)
        self._on_session_project_loaded()

    def _on_session_project_loaded(self):
        self.label.setText(f"Hello, {self.session.display_name}")
