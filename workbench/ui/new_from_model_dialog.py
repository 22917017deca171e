"""File > New project from a model: a model made elsewhere (a Hugging Face folder, an ONNX file or a PyTorch
module `file.py` + class name) and a data source. Create runs the job `new_from_model` in the trainer process
(the data read, the model imported and its head sized to the classes; a module's code runs there, once); a
problem is shown in the dialog, which stays open."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.project import Project


def _row(edit: QLineEdit, *buttons: QPushButton) -> QWidget:
    box = QWidget()
    layout = QHBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    for button in buttons:
        layout.addWidget(button)
    return box


class NewFromModelDialog(QDialog):
    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.project: Project | None = None
        self.note = ""
        self.job = None
        self.setObjectName("newFromModelDialog")
        self.setWindowTitle("New project from a model")
        self.resize(640, 330)
        self.name = QLineEdit("Imported model")
        self.model_edit = QLineEdit()
        self.model_edit.setObjectName("modelSourceEdit")
        self.model_edit.setPlaceholderText("a Hugging Face folder, an .onnx file or a .py file")
        self.model_edit.textChanged.connect(self._on_model_edit_changed)
        folder, file = QPushButton("Folder…"), QPushButton("File…")
        folder.clicked.connect(self._on_model_folder_clicked)
        file.clicked.connect(self._on_model_file_clicked)
        self.class_edit = QLineEdit()
        self.class_edit.setObjectName("moduleClassEdit")
        self.class_edit.setPlaceholderText("the nn.Module class in the .py file, e.g. ResNet18")
        self.data_edit = QLineEdit()
        self.data_edit.setObjectName("dataSourceEdit")
        self.data_edit.setPlaceholderText("a CSV (texts or a table), an image folder, an .npz, or digits")
        data_file, data_folder = QPushButton("File…"), QPushButton("Folder…")
        data_file.clicked.connect(self._on_data_file_clicked)
        data_folder.clicked.connect(self._on_data_folder_clicked)
        self.target_edit = QLineEdit()
        self.target_edit.setPlaceholderText("CSV: the label column (default: the last one)")
        form = QFormLayout()
        form.addRow("Project name", self.name)
        form.addRow("Model", _row(self.model_edit, folder, file))
        form.addRow("Class (.py)", self.class_edit)
        form.addRow("Data", _row(self.data_edit, data_file, data_folder))
        form.addRow("Target column", self.target_edit)
        self.note_label = QLabel(
            "Read offline: nothing is downloaded and a model folder never runs code. The new head is sized to the "
            "data's classes; a CSV text column uses the model's own tokenizer."
        )
        self.note_label.setWordWrap(True)
        self.status = QLabel()
        self.status.setObjectName("newFromModelStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.create_button = self.buttons.addButton("Create", QDialogButtonBox.ButtonRole.AcceptRole)
        self.create_button.setObjectName("createFromModelButton")
        self.buttons.accepted.connect(self.create)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note_label)
        layout.addWidget(self.status, 1)
        layout.addWidget(self.buttons)
        self._on_model_edit_changed(self.model_edit.text())

    def _on_model_edit_changed(self, text: str) -> None:
        module = text.strip().endswith(".py")
        self.class_edit.setEnabled(module)
        if module:
            self.status.setText(
                f"The code in {Path(text).name} runs once, in the trainer process, when you press Create; the "
                "project then keeps only its traced graph (ONNX) and weights."
            )

    def _on_model_folder_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A Hugging Face model folder")
        if folder:
            self.model_edit.setText(folder)

    def _on_model_file_clicked(self) -> None:
        file, _ = QFileDialog.getOpenFileName(
            self, "A model file", "", "Models (*.onnx *.py);;ONNX (*.onnx);;PyTorch module (*.py)"
        )
        if file:
            self.model_edit.setText(file)

    def _on_data_file_clicked(self) -> None:
        file, _ = QFileDialog.getOpenFileName(self, "The data", "", "Data (*.csv *.npz *.txt);;All files (*)")
        if file:
            self.data_edit.setText(file)

    def _on_data_folder_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "An image folder")
        if folder:
            self.data_edit.setText(folder)

    def model_source(self) -> str:
        source = self.model_edit.text().strip()
        if source.endswith(".py"):
            return f"{source}:{self.class_edit.text().strip()}"
        return source

    def create(self) -> None:
        """Start the import in the trainer process; the dialog closes when the project is made."""
        from workbench.ui.session import untitled_folder

        if not self.model_edit.text().strip() or not self.data_edit.text().strip():
            self._error("Choose a model and a data source first.")
            return
        if (
            self.model_edit.text().strip().endswith(".py")
            and not self.class_edit.text().strip().isidentifier()
        ):
            self._error("Give the class name of the nn.Module in the .py file.")
            return
        self.create_button.setEnabled(False)
        self.status.setStyleSheet("")
        self.status.setText("Reading the data and importing the model in the trainer process…")
        job = self.session.jobs.job(
            "new_from_model",
            "new_from_model",
            model_source=self.model_source(),
            data_source=self.data_edit.text().strip(),
            project_dir=str(untitled_folder()),
            target=self.target_edit.text().strip() or None,
            project_name=self.name.text().strip() or "Imported model",
        )
        job.sig_events.connect(self._on_job_events)
        job.sig_done.connect(self._on_job_done)
        self.job = job
        self.session.jobs.start(job)

    def _on_job_events(self, events: list) -> None:
        result = events[-1]
        self.project = Project.model_validate(result["project"])
        self.note = result["note"]

    def _on_job_done(self, error) -> None:
        self.job = None
        self.create_button.setEnabled(True)
        if error is not None:
            self._error(error.message)
        elif self.project is not None:
            self.accept()

    def _error(self, text: str) -> None:
        self.status.setStyleSheet("color: #b00020;")
        self.status.setText(text)
