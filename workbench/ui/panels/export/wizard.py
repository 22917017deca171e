"""The export wizard (`exportWizard`): source -> format and options -> destination -> run -> report."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTextBrowser,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from workbench.core.export.registry import exporters, get_exporter
from workbench.core.export.settings import ExportSettings
from workbench.core.training.runs import list_runs
from workbench.ui.panels.export.job import ExportRequest, default_destination, export_events
from workbench.ui.workers import GeneratorWorker

SOURCE_PAGE, FORMAT_PAGE, DESTINATION_PAGE, RUN_PAGE, REPORT_PAGE = range(5)


def _note(text: str = "", style: str = "color: palette(mid);") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(style)
    return label


class SourcePage(QWizardPage):
    def __init__(self, wizard: ExportWizard):
        super().__init__()
        self.setTitle("What to export")
        self.setSubTitle("A trained run's checkpoint, or the model in the builder as it is now.")
        self.wiz = wizard
        self.runs = QComboBox(objectName="exportRunCombo")
        self.best = QRadioButton("Best checkpoint of the run", objectName="exportSourceBest")
        self.last = QRadioButton("Last checkpoint of the run", objectName="exportSourceLast")
        self.current = QRadioButton("Current model in the builder (untrained weights)", objectName="exportSourceCurrent")
        self.group = QButtonGroup(self)
        for button in (self.best, self.last, self.current):
            self.group.addButton(button)
        self.warning = _note("", "color: #b36b00;")
        layout = QVBoxLayout(self)
        form = QFormLayout()
        form.addRow("Run", self.runs)
        layout.addLayout(form)
        for button in (self.best, self.last, self.current):
            layout.addWidget(button)
        layout.addWidget(self.warning)
        layout.addStretch(1)
        self.group.buttonToggled.connect(lambda *_: self._update())
        self.runs.currentIndexChanged.connect(lambda *_: self._update())

    def initializePage(self) -> None:  # noqa: N802 - Qt API
        session = self.wiz.session
        self.runs.clear()
        for run in reversed(list_runs(session.runs_dir)):
            if (run.path / "checkpoints").is_dir():
                best = (run.summary or {}).get("best_val_accuracy")
                extra = f" · best val {100 * best:.1f}%" if isinstance(best, int | float) else ""
                self.runs.addItem(f"{run.name}{extra}", str(run.path))
        if session.selected_run is not None:
            index = self.runs.findData(str(session.selected_run))
            if index >= 0:
                self.runs.setCurrentIndex(index)
        has_runs = self.runs.count() > 0
        for button in (self.best, self.last):
            button.setEnabled(has_runs)
        self.runs.setEnabled(has_runs)
        choice = session.project.export.source
        {"best": self.best, "last": self.last}.get(choice if has_runs else "", self.current).setChecked(True)
        self._update()

    def _update(self) -> None:
        if self.current.isChecked():
            self.warning.setText("The builder's model has random weights: the export works, but it predicts "
                                 "nothing useful. Train it first, then export the run's best checkpoint.")
        elif self.runs.count() == 0:
            self.warning.setText("No trained runs yet: train the model (Train in the toolbar) to export it.")
        else:
            self.warning.setText("")

    def source(self) -> str:
        return "current" if self.current.isChecked() else "last" if self.last.isChecked() else "best"

    def run(self) -> Path | None:
        data = self.runs.currentData()
        return Path(data) if data and self.source() != "current" else None


class FormatPage(QWizardPage):
    def __init__(self, wizard: ExportWizard):
        super().__init__()
        self.setTitle("Format and options")
        self.setSubTitle("Every export is verified: checker, onnxruntime at batch 1 and 32, parity and accuracy "
                         "against PyTorch, size and latency.")
        self.wiz = wizard
        self.formats = QComboBox(objectName="exportFormatCombo")
        for exporter in exporters():
            self.formats.addItem(exporter.label, exporter.name)
        self.description = _note()
        self.recommendation = _note("", "color: #2a7a2a;")
        self.opset = QSpinBox(objectName="exportOpset", minimum=7, maximum=30)
        self.samples = QSpinBox(objectName="exportCalibrationSamples", minimum=1, maximum=100_000)
        self.method = QComboBox(objectName="exportCalibrationMethod")
        self.method.addItems(["minmax", "entropy", "percentile"])
        self.form = QFormLayout()
        self.form.addRow("Format", self.formats)
        self.form.addRow("", self.description)
        self.form.addRow("ONNX opset", self.opset)
        self.form.addRow("Calibration samples", self.samples)
        self.form.addRow("Calibration method", self.method)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.recommendation)
        layout.addStretch(1)
        self.formats.currentIndexChanged.connect(lambda *_: self._update())

    def initializePage(self) -> None:  # noqa: N802
        settings = self.wiz.session.project.export
        index = self.formats.findData(settings.format)
        self.formats.setCurrentIndex(max(index, 0))
        self.opset.setValue(settings.opset)
        self.samples.setValue(settings.calibration_samples)
        self.method.setCurrentText(settings.calibration_method)
        from workbench.core.export.onnx_formats import recommend_quantization

        fmt, reason = recommend_quantization(self.wiz.session.project.model)
        self.recommendation.setText(f"For int8, {get_exporter(fmt).label} is recommended: {reason}.")
        self._update()

    def _update(self) -> None:
        exporter = get_exporter(self.formats.currentData())
        self.description.setText(exporter.description)
        for widget, option in ((self.opset, "opset"), (self.samples, "calibration_samples"),
                               (self.method, "calibration_method")):
            shown = option in exporter.options
            widget.setVisible(shown)
            self.form.labelForField(widget).setVisible(shown)

    def settings(self) -> ExportSettings:
        return self.wiz.session.project.export.model_copy(update={
            "format": self.formats.currentData(), "opset": self.opset.value(),
            "calibration_samples": self.samples.value(), "calibration_method": self.method.currentText(),
            "source": self.wiz.source_page.source()})


class DestinationPage(QWizardPage):
    def __init__(self, wizard: ExportWizard):
        super().__init__()
        self.setTitle("Destination")
        self.setSubTitle("The model is written atomically; its report (JSON and Markdown) goes beside it.")
        self.wiz = wizard
        self.path = QLineEdit(objectName="exportDestination")
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        self.hint = _note()
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.hint)
        layout.addStretch(1)
        self.path.textChanged.connect(self._update)
        self.registerField("destination*", self.path)

    def initializePage(self) -> None:  # noqa: N802
        settings = self.wiz.format_page.settings()
        suffix = get_exporter(settings.format).suffix
        default = default_destination(self.wiz.session.runs_dir, self.wiz.source_page.run(),
                                      settings.source, suffix, settings.format)
        remembered = settings.destination
        if remembered and Path(remembered).suffix == suffix and Path(remembered).parent.is_dir():
            default = Path(remembered).parent / default.name
        self.path.setText(str(default))

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path.text())
        if path:
            self.path.setText(path)

    def _update(self) -> None:
        p = Path(self.path.text()).expanduser()
        self.hint.setText(f"Report: {p.name}.report.json and {p.name}.report.md in {p.parent}"
                          + (" (an existing file is replaced)" if p.exists() else ""))
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        text = self.path.text().strip()
        return bool(text) and not Path(text).expanduser().is_dir()

    def validatePage(self) -> bool:  # noqa: N802
        folder = Path(self.path.text()).expanduser().parent
        existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK):
            self.hint.setText(f"<span style='color:#b00020'>{folder} is not writable; choose another folder.</span>")
            return False
        return True


class RunPage(QWizardPage):
    sig_finished = Signal(object)

    def __init__(self, wizard: ExportWizard):
        super().__init__()
        self.setTitle("Exporting")
        self.setSubTitle("Runs in the background; Cancel stops it and leaves nothing half-written.")
        self.wiz = wizard
        self.progress = QProgressBar(objectName="exportProgress", maximum=1000)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.log = QListWidget()
        self.error = _note("", "color: #b00020;")
        self.error.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        for widget in (self.progress, self.status, self.log, self.error):
            layout.addWidget(widget)
        self.worker: GeneratorWorker | None = None
        self.cancel = threading.Event()
        self.report = None

    def initializePage(self) -> None:  # noqa: N802
        self.report, self.worker = None, None
        self.error.setText("")
        self.log.clear()
        self.progress.setValue(0)
        self.cancel = threading.Event()
        request = self.wiz.request()
        self.wiz.session.update_export(request.settings)
        self.status.setText(f"Exporting {request.describe()} as {get_exporter(request.settings.format).label}...")
        cancel = self.cancel
        self.worker = GeneratorWorker(lambda: export_events(request, cancel), name="wb-export", on_stop=cancel.set,
                                      parent=self)
        self.worker.sig_events.connect(self._on_worker_events)
        self.worker.sig_done.connect(self._on_worker_done)
        self.worker.start()

    def _on_worker_events(self, events: list) -> None:
        for event in events:
            if hasattr(event, "report"):
                self.report = event.report
            else:
                self.progress.setValue(int(1000 * event.fraction))
                self.status.setText(event.message)
                self.log.addItem(event.message)
        self.log.scrollToBottom()

    def _on_worker_done(self, error) -> None:
        from workbench.core.errors import Cancelled, UserError

        if error is not None:
            exc, trace = error
            if isinstance(exc, Cancelled):
                self.status.setText("Cancelled; nothing was written.")
            elif isinstance(exc, UserError):
                self.error.setText(f"Export failed: {exc}\nGo Back to change the options.")
            else:
                self.error.setText(f"Export failed (a bug; please report it):\n{trace[-1500:]}")
        self.completeChanged.emit()
        if self.report is not None:
            self.sig_finished.emit(self.report)

    def isComplete(self) -> bool:  # noqa: N802
        return self.report is not None

    def is_running(self) -> bool:
        return self.worker is not None and self.worker.isRunning()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop_and_wait(60_000)  # an exporter call cannot be interrupted midway


class ReportPage(QWizardPage):
    def __init__(self, wizard: ExportWizard):
        super().__init__()
        self.setTitle("Report")
        self.wiz = wizard
        self.view = QTextBrowser(objectName="exportReportView")
        self.view.setOpenExternalLinks(True)
        open_folder = QPushButton("Open folder", objectName="exportOpenFolder")
        copy = QPushButton("Copy report", objectName="exportCopyReport")
        open_folder.clicked.connect(self.open_folder)
        copy.clicked.connect(self.copy_report)
        row = QHBoxLayout()
        row.addWidget(open_folder)
        row.addWidget(copy)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addLayout(row)

    def initializePage(self) -> None:  # noqa: N802
        report = self.wiz.run_page.report
        self.setSubTitle(f"{Path(report.path).name}: {'verified' if report.checker_ok and report.parity_ok else 'see the warnings'}")
        self.view.setMarkdown(report.to_markdown())

    def open_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(self.wiz.run_page.report.path).parent)))

    def copy_report(self) -> None:
        QGuiApplication.clipboard().setText(self.wiz.run_page.report.to_markdown())


class ExportWizard(QWizard):
    sig_exported = Signal(object)       # the ExportReport

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.setObjectName("exportWizard")
        self.setWindowTitle("Export model")
        self.setWizardStyle(QWizard.ClassicStyle)
        self.setOption(QWizard.NoBackButtonOnLastPage, True)
        self.session = session
        self.source_page = SourcePage(self)
        self.format_page = FormatPage(self)
        self.destination_page = DestinationPage(self)
        self.run_page = RunPage(self)
        self.report_page = ReportPage(self)
        for page_id, page in enumerate((self.source_page, self.format_page, self.destination_page, self.run_page,
                                        self.report_page)):
            self.setPage(page_id, page)
        self.run_page.sig_finished.connect(self._on_run_finished)
        self.setButtonText(QWizard.CommitButton, "Export")
        self.destination_page.setCommitPage(True)
        self.resize(640, 520)

    def request(self) -> ExportRequest:
        settings = self.format_page.settings()
        destination = Path(self.destination_page.path.text()).expanduser()
        settings = settings.model_copy(update={"destination": str(destination)})
        session = self.session
        return ExportRequest(self.source_page.source(), self.source_page.run(), settings, destination,
                             spec=session.project.model, data=session.data, dataset=session.project.dataset)

    def _on_run_finished(self, report) -> None:
        self.sig_exported.emit(report)
        if self.currentId() == RUN_PAGE:
            self.next()

    def reject(self) -> None:
        if self.run_page.is_running():
            self.run_page.status.setText("Cancelling...")
            self.run_page.stop()
        super().reject()

    def shutdown(self) -> None:
        if self.run_page.is_running():
            self.run_page.stop()
