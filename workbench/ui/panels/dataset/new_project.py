"""NewFromDataDialog: File > New from data. Pick a folder or file, see it (summary, samples, class histogram),
set the split, pick a model template sized to the data, get a Project.

    dialog = NewFromDataDialog(parent)
    if dialog.exec():
        session.new(dialog.project())       # the Dataset panel loads it again in the background
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from workbench.core.data.settings import DatasetSettings
from workbench.core.errors import UserError
from workbench.ui.panels.dataset.histogram import ClassHistogram
from workbench.ui.panels.dataset.source_form import SourceForm
from workbench.ui.panels.dataset.split_form import SplitTransformForm
from workbench.ui.panels.dataset.thumbnails import ThumbnailGrid
from workbench.ui.panels.dataset.views import SPLITS, summary_html
from workbench.ui.panels.dataset.worker import DataLoad


class NewFromDataDialog(QDialog):
    def __init__(self, parent=None, settings: DatasetSettings | None = None):
        super().__init__(parent)
        self.setObjectName("newFromDataDialog")
        self.setWindowTitle("New project from data")
        self.resize(620, 720)
        self.bundle = None
        self._settings: DatasetSettings | None = None
        self._thread: DataLoad | None = None
        # everything but the buttons scrolls: Options and a CSV's summary never push Create below the screen
        body = QWidget()
        body.setObjectName("newProjectBody")
        lay = QVBoxLayout(body)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.NoFrame)
        self.scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.addWidget(self.scroll, 1)
        form = QFormLayout()
        self.name = QLineEdit("Untitled")
        form.addRow("Project name", self.name)
        lay.addLayout(form)
        self.source_form = SourceForm()
        self.source_form.load_button.setText("Inspect")
        lay.addWidget(self.source_form)
        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.cancel_button = QPushButton("Cancel loading")
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        lay.addLayout(row)
        self.message = QLabel("Choose a source and press Inspect.")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.message)
        self.grid = ThumbnailGrid()
        self.grid.setMinimumHeight(90)
        self.grid.setMaximumHeight(190)
        lay.addWidget(self.grid)
        self.histogram = ClassHistogram()
        self.histogram.setMinimumHeight(150)
        lay.addWidget(self.histogram, 1)
        self.split_form = SplitTransformForm()
        self.split_form.set_images(False)
        lay.addWidget(self.split_form)
        tform = QFormLayout()
        self.template = QComboBox()
        self.template.setObjectName("newProjectTemplate")
        tform.addRow("Model template", self.template)
        lay.addLayout(tform)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Create project")
        self.buttons.button(QDialogButtonBox.Ok).setEnabled(False)
        outer.addWidget(self.buttons)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.source_form.sig_load.connect(self._on_inspect)
        self.cancel_button.clicked.connect(self._on_cancel)
        if settings is not None:
            self.source_form.set_settings(settings)
        self.split_form.set_settings(settings or DatasetSettings())

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self.fit_to_screen()

    def fit_to_screen(self) -> None:
        """At most the screen's free height (less a margin for the title bar), and inside it."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return
        free = screen.availableGeometry()
        height = min(self.height(), free.height() - 40)
        width = min(self.width(), free.width() - 20)
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)
        frame = self.frameGeometry()
        top = min(max(frame.top(), free.top()), free.bottom() - frame.height())
        left = min(max(frame.left(), free.left()), free.right() - frame.width())
        if (left, top) != (frame.left(), frame.top()):
            self.move(max(left, free.left()), max(top, free.top()))

    # -- loading
    # ----------------------------------------------------------------------------------------------
    def _on_inspect(self) -> None:
        if self._thread is not None:
            return
        v = self.source_form.values()
        if v["kind"] != "digits" and not v["source"]:
            self.message.setText("Choose a folder or file first (Browse\u2026).")
            return
        try:
            settings = DatasetSettings(**v, split=self.split_form.split())
        except ValueError as exc:
            self.message.setText(str(exc))
            return
        self._settings = settings
        self.bundle = None
        self.buttons.button(QDialogButtonBox.Ok).setEnabled(False)
        self._thread = DataLoad(settings, 1, self, jobs=_jobs(self.parent()), kind="data-new")
        self._thread.sig_progress.connect(self._on_progress)
        self._thread.sig_loaded.connect(self._on_loaded)
        self._thread.sig_failed.connect(self._on_failed)
        self._thread.sig_cancelled.connect(self._on_cancelled)
        self._thread.finished.connect(self._on_finished)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.source_form.load_button.setEnabled(False)
        self.message.setText("Loading\u2026")
        self._thread.start()

    def _on_failed(self, _generation: int, message: str) -> None:
        self.message.setText(f"<b>Cannot use this data:</b> {message}")

    def _on_cancelled(self, _generation: int) -> None:
        self.message.setText("Cancelled.")

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(0, total))
        if total:
            self.progress.setValue(min(done, total))
        self.progress.setFormat(message.replace("%", "%%"))

    def _on_loaded(self, _generation: int, bundle, _table) -> None:
        from workbench.core.model.templates import default_template, templates_for

        self.bundle = bundle
        m = bundle.meta
        self.message.setText(
            summary_html(bundle)
            + (
                f"<br>{len(bundle.skipped)} files skipped (listed in the Dataset panel)."
                if bundle.skipped
                else ""
            )
        )
        if m.task == "classification":
            self.histogram.show_classes(
                m.class_names,
                {
                    s: np.bincount(
                        np.asarray(bundle.split(s).y)
                        if bundle.split(s).y is not None
                        else np.asarray(bundle.split(s).dataset.y),
                        minlength=m.num_classes,
                    )
                    for s in SPLITS
                },
            )
        else:
            self.histogram.show_values(np.asarray(bundle.train.y))
        if bundle.modality == "image":
            rng = np.random.default_rng(0)
            picks = rng.choice(
                len(bundle.train), size=min(len(bundle.train), self.grid.capacity()), replace=False
            )
            self.grid.set_items(
                [
                    (
                        bundle.sample_image("train", int(i)),
                        bundle.label_name(bundle.train.y[int(i)]) if bundle.train.y is not None else "",
                    )
                    for i in picks
                ]
            )
        else:
            self.grid.set_empty_text("\n".join(bundle.sample_text("train", i)[:90] for i in range(3)))
        self.template.clear()
        for t in templates_for(m.input_shape, m.input_dtype, m.task):
            self.template.addItem(t.title, t.name)
            self.template.setItemData(self.template.count() - 1, t.doc, Qt.ToolTipRole)
        self.template.setCurrentIndex(
            max(0, self.template.findData(default_template(m.input_shape, m.input_dtype, m.task)))
        )
        if self.name.text() in ("", "Untitled"):
            self.name.setText(_default_name(self._settings))
        self.buttons.button(QDialogButtonBox.Ok).setEnabled(True)

    def _on_finished(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.deleteLater()
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.source_form.load_button.setEnabled(True)

    def _on_cancel(self) -> None:
        if self._thread is not None:
            self._thread.cancel()

    def shutdown(self) -> None:
        thread = self._thread
        if thread is not None:
            thread.cancel()
            thread.wait(5000)
            self._on_finished()

    def done(self, result: int) -> None:  # accept / reject / close: never leave the thread running
        self.shutdown()
        super().done(result)

    # -- result
    # -----------------------------------------------------------------------------------------------
    def project(self):
        """The new Project: these dataset settings (with the split chosen here) and the template's model."""
        from workbench.core.model.templates import make_template
        from workbench.core.project import Project

        if self.bundle is None or self._settings is None:
            raise UserError("inspect a data source first")
        m = self.bundle.meta
        settings = self._settings.model_copy(update={"split": self.split_form.split()})
        spec = make_template(
            self.template.currentData(),
            m.input_shape,
            m.num_classes,
            m.input_dtype,
            vocab_size=m.extra.get("vocab_size"),
        )
        return Project(name=self.name.text().strip() or "Untitled", dataset=settings, model=spec)


def _default_name(settings: DatasetSettings | None) -> str:
    from pathlib import Path

    if settings is None or settings.kind == "digits":
        return "Digits"
    return Path(settings.source).stem or settings.kind


def _jobs(window):
    """The main window's JobRunner (the data loads in the trainer process), or None (a dialog on its own)."""
    session = getattr(window, "session", None)
    return getattr(session, "jobs", None)
