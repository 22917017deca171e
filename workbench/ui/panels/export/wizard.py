"""The export wizard (`exportWizard`): source -> format and options -> [accuracy budget: int8 static] ->
destination -> run -> report (verdict; for a budget, the per-node sensitivity as a chart and a table)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from workbench.core.export.pipeline import unavailable
from workbench.core.export.registry import EXPORTERS, exporters, get_exporter
from workbench.core.export.request import ExportRequest, default_destination, export_events
from workbench.core.export.settings import ExportSettings
from workbench.core.jobs import Placement, placement_of_item
from workbench.core.training.runs import list_runs
from workbench.ui.jobs import ThreadJob

SOURCE_PAGE, FORMAT_PAGE, DESTINATION_PAGE, RUN_PAGE, REPORT_PAGE, BUDGET_PAGE = range(6)
DEFAULT_BUDGET = 1.0  # points, when the project has none remembered


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
        self.current = QRadioButton(
            "Current model in the builder (untrained weights)", objectName="exportSourceCurrent"
        )
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
            self.warning.setText(
                "The builder's model has random weights: the export works, but it predicts "
                "nothing useful. Train it first, then export the run's best checkpoint."
            )
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
        self.setSubTitle(
            "Every export is verified: checker, onnxruntime at batch 1 and 32, parity and accuracy "
            "against PyTorch, size and latency."
        )
        self.wiz = wizard
        self.formats = QComboBox(objectName="exportFormatCombo")
        for exporter in exporters():
            missing = unavailable(exporter)
            self.formats.addItem(exporter.label + (" (not installed)" if missing else ""), exporter.name)
            if missing:  # offered, so users learn it exists, but disabled with what to install
                index = self.formats.count() - 1
                self.formats.model().item(index).setEnabled(False)
                self.formats.setItemData(index, missing, Qt.ToolTipRole)
        self.description = _note()
        self.recommendation = _note("", "color: #2a7a2a;")
        self.opset = QSpinBox(objectName="exportOpset", minimum=7, maximum=30)
        self.method = QComboBox(objectName="exportCalibrationMethod")
        self.method.addItems(["minmax", "entropy", "percentile"])
        self.form = QFormLayout()
        self.form.addRow("Format", self.formats)
        self.form.addRow("", self.description)
        self.form.addRow("ONNX opset", self.opset)
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
        self.method.setCurrentText(settings.calibration_method)
        from workbench.core.export.onnx_formats import recommend_quantization

        fmt, reason = recommend_quantization(self.wiz.session.project.model)
        self.recommendation.setText(f"For int8, {get_exporter(fmt).label} is recommended: {reason}.")
        self._update()

    def _update(self) -> None:
        from workbench.core.export.onnx_formats import QUANTIZED_MIN_OPSET

        exporter = get_exporter(self.formats.currentData())
        self.description.setText(exporter.description)
        least = QUANTIZED_MIN_OPSET.get(exporter.name, 7)  # (a lower value is raised to it)
        self.opset.setMinimum(least)
        self.opset.setToolTip(f"{exporter.label}: ONNX opset {least} or newer" if least > 7 else "")
        for widget, option in ((self.opset, "opset"), (self.method, "calibration_method")):
            shown = option in exporter.options
            widget.setVisible(shown)
            self.form.labelForField(widget).setVisible(shown)

    def exporter(self):
        return get_exporter(self.formats.currentData())

    def nextId(self) -> int:  # noqa: N802 - Qt API
        options = self.exporter().options
        return (
            BUDGET_PAGE
            if "calibration_samples" in options or "max_accuracy_drop" in options
            else DESTINATION_PAGE
        )

    def settings(self) -> ExportSettings:
        update = {
            "format": self.formats.currentData(),
            "opset": self.opset.value(),
            "calibration_method": self.method.currentText(),
            "source": self.wiz.source_page.source(),
        }
        if self.nextId() == BUDGET_PAGE:
            update.update(self.wiz.budget_page.values(self.exporter()))
        return self.wiz.session.project.export.model_copy(update=update)


class BudgetPage(QWizardPage):
    """int8 static asks two things: the largest accuracy drop the user accepts, and the calibration-set size."""

    def __init__(self, wizard: ExportWizard):
        super().__init__()
        self.setObjectName("exportBudgetPage")
        self.setTitle("Accuracy budget")
        self.setSubTitle(
            "int8 is smaller and often faster, at some cost in accuracy. Say how much you accept: "
            "the most sensitive layers stay in fp32 until the drop on the validation split is within "
            "it, or the export says it cannot be met."
        )
        self.wiz = wizard
        self.use_budget = QCheckBox("Keep the accuracy within a budget", objectName="exportUseBudget")
        self.drop = QDoubleSpinBox(
            objectName="exportMaxAccuracyDrop",
            minimum=0.0,
            maximum=100.0,
            decimals=1,
            singleStep=0.5,
            suffix=" points",
            maximumWidth=180,
        )
        self.drop.setToolTip(
            "Accuracy on the validation split may fall by at most this many percentage points "
            "(e.g. 97.0% -> 96.5% is 0.5 points)"
        )
        self.samples = QSpinBox(
            objectName="exportCalibrationSamples",
            minimum=1,
            maximum=100_000,
            suffix=" samples",
            maximumWidth=180,
        )
        self.samples.setToolTip(
            "Train samples the activation ranges are calibrated on (100-500 is typical; more "
            "is slower and rarely better)"
        )
        self.form = QFormLayout()
        self.form.addRow(self.use_budget)
        self.form.addRow("Maximum accuracy drop", self.drop)
        self.form.addRow("Calibration set", self.samples)
        self.explain = _note(
            "How it works: every layer is quantized, then onnxruntime's QDQ debugging compares "
            "each layer's int8 output with fp32 (signal-to-quantization-noise ratio). Layers that "
            "add the most noise are kept in fp32, one group at a time, up to half of them. The "
            "report shows each layer's sensitivity and which were kept."
        )
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.explain)
        layout.addStretch(1)
        self.use_budget.toggled.connect(self.drop.setEnabled)

    def initializePage(self) -> None:  # noqa: N802
        settings = self.wiz.session.project.export
        self.use_budget.setChecked(True)
        self.drop.setValue(
            settings.max_accuracy_drop if settings.max_accuracy_drop is not None else DEFAULT_BUDGET
        )
        self.samples.setValue(settings.calibration_samples)
        has_budget = "max_accuracy_drop" in self.wiz.format_page.exporter().options
        for widget in (self.use_budget, self.drop, self.explain):
            widget.setVisible(has_budget)
        self.form.labelForField(self.drop).setVisible(has_budget)

    def values(self, exporter) -> dict:
        budget = "max_accuracy_drop" in exporter.options and self.use_budget.isChecked()
        return {
            "calibration_samples": self.samples.value(),
            "max_accuracy_drop": round(self.drop.value(), 2) if budget else None,
        }

    def nextId(self) -> int:  # noqa: N802
        return DESTINATION_PAGE


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
        default = default_destination(
            self.wiz.session.runs_dir, self.wiz.source_page.run(), settings.source, suffix, settings.format
        )
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
        self.hint.setText(
            f"Report: {p.name}.report.json and {p.name}.report.md in {p.parent}"
            + (" (an existing file is replaced)" if p.exists() else "")
        )
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        text = self.path.text().strip()
        return bool(text) and not Path(text).expanduser().is_dir()

    def validatePage(self) -> bool:  # noqa: N802
        folder = Path(self.path.text()).expanduser().parent
        existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK):
            self.hint.setText(
                f"<span style='color:#b00020'>{folder} is not writable; choose another folder.</span>"
            )
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
        self.job = None  # the export: a job in the trainer process (workbench.ui.jobs)
        self.report = None
        self.pending = None  # a failed export held in its work folder until kept or discarded

    def initializePage(self) -> None:  # noqa: N802
        self.discard_pending()
        self.report, self.job = None, None
        self.error.setText("")
        self.log.clear()
        self.progress.setValue(0)
        request = self.wiz.request()
        session = self.wiz.session
        session.update_export(request.settings)
        exporter = get_exporter(request.settings.format)
        self.status.setText(f"Exporting {request.describe()} as {exporter.label}...")
        if placement_of_item(EXPORTERS, exporter.name) is Placement.TRAINER:
            job = session.jobs.job("export", "export", request=request.to_dict())
        else:  # an exporter registered in this process only: on a thread here
            cancel = threading.Event()
            job = ThreadJob(
                "export", lambda: export_events(request, cancel), on_command=lambda action, _arg: cancel.set()
            )
        job.sig_events.connect(self._on_job_events)
        job.sig_done.connect(self._on_job_done)
        self.job = job
        session.jobs.start(job)

    def _on_job_events(self, events: list) -> None:
        for event in events:
            if hasattr(event, "report"):
                self.report, self.pending = event.report, event.pending
            else:
                self.progress.setValue(int(1000 * event.fraction))
                self.status.setText(event.message)
                self.log.addItem(event.message)
        self.log.scrollToBottom()

    def _on_job_done(self, error) -> None:
        if error is not None:
            if error.cancelled:
                self.status.setText("Cancelled; nothing was written.")
            elif error.user_error:
                self.error.setText(f"Export failed: {error.message}\nGo Back to change the options.")
            else:
                self.error.setText(
                    f"Export failed (a bug; please report it):\n{(error.details or error.message)[-1500:]}"
                )
        self.completeChanged.emit()
        if self.report is not None:
            self.sig_finished.emit(self.report)

    def isComplete(self) -> bool:  # noqa: N802
        return self.report is not None

    def is_running(self) -> bool:
        return self.job is not None and self.job.running and not self.job.cancelled

    def stop(self) -> None:
        """Cancel the export: it stops at its next step and removes its hidden work folder (nothing is left)."""
        if self.job is not None:
            self.job.cancel()

    def keep_pending(self):
        """Keep a failed export under its name (with its failed report); the report, or None."""
        if self.pending is None:
            return None
        report, self.pending = self.pending.keep(), None
        return report

    def discard_pending(self) -> None:
        if self.pending is not None:
            self.pending.discard()
            self.pending = None


class SensitivityChart(pg.PlotWidget):
    """Per node (most sensitive first): the SQNR it loses (its noisiest input's minus its output's, dB), as
    horizontal bars named on the left; the nodes kept in fp32 in orange."""

    KEPT, INT8 = (251, 140, 0), (66, 133, 244)
    MAX_BARS = 16

    def __init__(self, parent=None):
        super().__init__(parent, background="w")
        self.setObjectName("exportSensitivityChart")
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.showGrid(x=True, alpha=0.25)
        self.setLabel("bottom", "SQNR lost at the node (dB; more = more sensitive)")
        self.getViewBox().invertY(True)
        self.legend = self.addLegend(
            offset=(-6, -6), labelTextColor=(40, 40, 40), brush=pg.mkBrush(255, 255, 255, 220)
        )

    def show_rows(self, rows: list[dict]) -> None:
        self.clear()
        self.legend.clear()
        rows = rows[: self.MAX_BARS]
        lost = [max(0.0, min(r["input_sqnr_db"], 120.0) - r["sqnr_db"]) for r in rows]
        for kept, color in ((True, self.KEPT), (False, self.INT8)):
            index = [i for i, r in enumerate(rows) if r["kept_fp32"] == kept]
            if index:
                self.addItem(
                    pg.BarGraphItem(
                        x0=0,
                        y=index,
                        height=0.7,
                        width=[lost[i] for i in index],
                        brush=pg.mkBrush(*color, 230),
                        pen=pg.mkPen(None),
                        name="kept in fp32" if kept else "int8",
                    )
                )
        self.getAxis("left").setTicks([[(i, f"{r['node']} ({r['op']})") for i, r in enumerate(rows)]])
        self.setYRange(-0.6, len(rows) - 0.4, padding=0)
        self.setXRange(0, max([*lost, 1.0]) * 1.08, padding=0)


class ReportPage(QWizardPage):
    def __init__(self, wizard: ExportWizard):
        super().__init__()
        self.setTitle("Report")
        self.wiz = wizard
        self.verdict = QLabel(objectName="exportVerdict")
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.chart = SensitivityChart()
        self.table = QTableWidget(0, 5, objectName="exportSensitivityTable")
        self.table.setHorizontalHeaderLabels(["Node", "Op", "SQNR (dB)", "Input SQNR (dB)", "Kept in fp32"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.sensitivity = QSplitter(Qt.Horizontal)
        self.sensitivity.addWidget(self.chart)
        self.sensitivity.addWidget(self.table)
        self.view = QTextBrowser(objectName="exportReportView")
        self.view.setOpenExternalLinks(True)
        self.split = QSplitter(Qt.Vertical)
        self.split.addWidget(self.sensitivity)
        self.split.addWidget(self.view)
        self.keep = QPushButton("Keep the file anyway", objectName="exportKeepFailed")
        self.keep.setToolTip("Write the model and its (failed) report under the chosen name")
        self.keep.clicked.connect(self.keep_failed)
        open_folder = QPushButton("Open folder", objectName="exportOpenFolder")
        copy = QPushButton("Copy report", objectName="exportCopyReport")
        open_folder.clicked.connect(self.open_folder)
        copy.clicked.connect(self.copy_report)
        row = QHBoxLayout()
        row.addWidget(self.keep)
        row.addWidget(open_folder)
        row.addWidget(copy)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.verdict)
        layout.addWidget(self.split, 1)
        layout.addLayout(row)

    def initializePage(self) -> None:  # noqa: N802
        report = self.wiz.run_page.report
        name = Path(report.path).name
        failed = report.verdict == "failed" or not report.checker_ok
        self.setSubTitle(f"{name}: {'verification FAILED' if failed else 'verified'}")
        if failed:
            checks = "".join(f"<br>• {c}" for c in report.failed_checks)
            self.verdict.setText(
                f"<b style='color:#b00020'>Verification failed</b> — {name} was not written."
                f"{checks}<br>Keep it anyway, or go Back to change the options."
            )
        else:
            self.verdict.setText(
                f"<b style='color:#2a7a2a'>Verified</b> — {name} written with its report."
                + self._budget_line(report)
            )
        if failed:
            self.verdict.setText(self.verdict.text() + self._budget_line(report))
        self.keep.setVisible(self.wiz.run_page.pending is not None)
        self.sensitivity.setVisible(bool(report.sensitivity))
        if report.sensitivity:
            self.chart.show_rows(report.sensitivity)
            self._fill_table(report.sensitivity)
            self.split.setSizes([330, 270])
            self.sensitivity.setSizes([640, 560])
        self.view.setMarkdown(report.to_markdown())

    def nextId(self) -> int:  # noqa: N802 - Qt API: the last page (the budget page has a higher id)
        return -1

    @staticmethod
    def _budget_line(report) -> str:
        b = report.accuracy_budget
        if not b:
            return ""
        return (
            f"<br>Accuracy budget {b['max_drop_points']:g} points: achieved {b['achieved_drop_points']:.2f} "
            f"points with {b['fp32_nodes']} of {b['quantizable_nodes']} weighted nodes kept in fp32."
        )

    def _fill_table(self, rows: list[dict]) -> None:
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            values = (
                r["node"],
                r["op"],
                f"{r['sqnr_db']:.1f}",
                f"{min(r['input_sqnr_db'], 999):.1f}",
                ("yes, reads int8 input" if r.get("reads_int8_input") else "yes") if r["kept_fp32"] else "",
            )
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                if column >= 2:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(i, column, item)

    def keep_failed(self) -> None:
        report = self.wiz.run_page.keep_pending()
        if report is not None:
            self.keep.setVisible(False)
            self.verdict.setText(
                self.verdict.text()
                .replace("was not written", "was kept although it failed")
                .replace("Keep it anyway, or go", "Go")
            )
            self.wiz.sig_exported.emit(report)

    def open_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(self.wiz.run_page.report.path).parent)))

    def copy_report(self) -> None:
        QGuiApplication.clipboard().setText(self.wiz.run_page.report.to_markdown())


class ExportWizard(QWizard):
    sig_exported = Signal(object)  # the ExportReport

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.setObjectName("exportWizard")
        self.setWindowTitle("Export model")
        self.setWizardStyle(QWizard.ClassicStyle)
        self.setOption(QWizard.NoBackButtonOnLastPage, True)
        self.session = session
        self.source_page = SourcePage(self)
        self.format_page = FormatPage(self)
        self.budget_page = BudgetPage(self)
        self.destination_page = DestinationPage(self)
        self.run_page = RunPage(self)
        self.report_page = ReportPage(self)
        for page_id, page in enumerate(
            (
                self.source_page,
                self.format_page,
                self.destination_page,
                self.run_page,
                self.report_page,
                self.budget_page,
            )
        ):
            self.setPage(page_id, page)
        self.run_page.sig_finished.connect(self._on_run_finished)
        self.setButtonText(QWizard.CommitButton, "Export")
        self.destination_page.setCommitPage(True)
        self.resize(640, 520)
        session.sig_runs_root_changed.connect(self._on_session_runs_root_changed)

    def request(self) -> ExportRequest:
        settings = self.format_page.settings()
        destination = Path(self.destination_page.path.text()).expanduser()
        settings = settings.model_copy(update={"destination": str(destination)})
        session = self.session
        return ExportRequest(
            self.source_page.source(),
            self.source_page.run(),
            settings,
            destination,
            spec=session.project.model,
            data=session.data,
            dataset=session.project.dataset,
        )

    def _on_run_finished(self, report) -> None:
        if self.run_page.pending is None:  # a held failure is announced only once kept
            self.sig_exported.emit(report)
        if self.currentId() == RUN_PAGE:
            self.next()

    def done(self, result: int) -> None:
        self.run_page.discard_pending()  # a failed export nobody kept leaves nothing behind
        super().done(result)

    def reject(self) -> None:
        job = self.run_page.job if self.run_page.is_running() else None
        if job is not None:  # "nothing was written" once the export has stopped and removed its work folder
            self.run_page.status.setText("Cancelling...")
            status = self.session.sig_status
            job.sig_finished.connect(lambda _error: status.emit("Export cancelled; nothing was written."))
            self.run_page.stop()
        super().reject()
        self.session.sig_status.emit("Cancelling the export…" if job is not None else "Export cancelled.")

    def _on_session_runs_root_changed(self, _root) -> None:
        """Save As / New / Open moved the runs: the run list shows the project's runs, not the old folder's."""
        if self.currentPage() is self.source_page:
            self.source_page.initializePage()

    def shutdown(self) -> None:
        if self.run_page.is_running():
            self.run_page.stop()
        self.run_page.discard_pending()
