"""ExportPanel: the compact dock. Says what will be exported, lists the latest reports, opens the wizard."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import UserError
from workbench.core.export.report import ExportReport, load_report
from workbench.core.units import bytes_text

COLUMNS = ("File", "Format", "Size", "Accuracy", "Agreement", "Latency b1 / b32", "Check")
MAX_REPORTS = 20


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


class ExportPanel(QWidget):
    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.setObjectName("exportPanel")
        self.session = session
        self.wizard = None
        self.reports: list[ExportReport] = []
        self.source_label = QLabel(objectName="exportSourceLabel")
        self.source_label.setWordWrap(True)
        self.export_button = QPushButton("Export...", objectName="exportButton")
        self.export_button.setToolTip("Export to ONNX, fp16, int8 or TorchScript, verified with a report")
        self.export_button.clicked.connect(self.open_wizard)
        self.table = QTableWidget(0, len(COLUMNS), objectName="exportReportsTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        for column in range(1, len(COLUMNS)):
            self.table.horizontalHeader().setSectionResizeMode(column, QHeaderView.ResizeToContents)
        self.table.doubleClicked.connect(self._on_table_double_clicked)
        self.empty = QLabel(
            "No exports yet. Train a model, then Export... to get a verified ONNX, int8 or "
            "TorchScript file with a report.",
            objectName="exportEmptyLabel",
        )
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignCenter)
        self.empty.setStyleSheet("color: palette(mid);")
        top = QHBoxLayout()
        top.addWidget(self.source_label, 1)
        top.addWidget(self.export_button, 0, Qt.AlignTop)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty, 1)
        session.sig_project_loaded.connect(self._on_session_project_loaded)
        session.sig_run_selected.connect(lambda *_: self._update_source())
        session.sig_runs_changed.connect(self._update_source)
        session.sig_export_changed.connect(self._update_source)
        session.actions["export"].triggered.connect(self.open_wizard)
        self._on_session_project_loaded()

    # -- what will be exported
    # --------------------------------------------------------------------------------------
    def _update_source(self) -> None:
        s = self.session
        which = s.project.export.source
        fmt = s.project.export.format
        if s.selected_run is not None and which != "current":
            text = f"Will export run <b>{Path(s.selected_run).name}</b> ({which} checkpoint) as <b>{fmt}</b>."
        elif which == "current" or not self._has_runs():
            text = (
                f"Will export the <b>current model</b> as <b>{fmt}</b> — its weights are "
                "<span style='color:#b36b00'>untrained</span>; train it first for a useful export."
            )
        else:
            text = (
                f"Will export the latest run's {which} checkpoint as <b>{fmt}</b> (select a run to change)."
            )
        self.source_label.setText(text)

    def _has_runs(self) -> bool:
        from workbench.core.training.runs import list_runs

        return bool(list_runs(self.session.runs_dir))

    # -- reports
    # --------------------------------------------------------------------------------------------------
    def _on_session_project_loaded(self) -> None:
        self.reports = self._saved_reports()
        self._fill_table()
        self._update_source()

    def _saved_reports(self) -> list[ExportReport]:
        runs_dir = self.session.runs_dir
        folder = runs_dir.parent / "exports" if runs_dir is not None else None
        if folder is None or not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.glob("*.report.json"), key=lambda p: p.stat().st_mtime, reverse=True):
            try:
                found.append(load_report(path))
            except (UserError, TypeError):
                continue
        return found[:MAX_REPORTS]

    def add_report(self, report: ExportReport) -> None:
        self.reports = [report] + [r for r in self.reports if r.path != report.path][: MAX_REPORTS - 1]
        self._fill_table()
        self.session.sig_status.emit(f"Exported {report.path}")

    def _fill_table(self) -> None:
        self.table.setRowCount(len(self.reports))
        for row, r in enumerate(self.reports):
            latency = r.latency_ms or {}
            check = (
                "failed"
                if r.verdict == "failed"
                else "ok"
                if r.checker_ok and r.parity_ok is not False
                else "check failed"
                if not r.checker_ok
                else "parity"
            )
            values = (
                Path(r.path).name,
                r.format,
                bytes_text(r.size_bytes),
                f"{_pct(r.accuracy_before)} → {_pct(r.accuracy_after)}",
                _pct(r.top1_agreement),
                f"{latency.get('batch_1', 0):.3g} / {latency.get('batch_32', 0):.3g} ms",
                check,
            )
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip("\n".join([r.path, *r.notes, *r.warnings]))
                self.table.setItem(row, column, item)
        self.table.setVisible(bool(self.reports))
        self.empty.setVisible(not self.reports)

    def _on_table_double_clicked(self, index) -> None:
        report = self.reports[index.row()]
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(report.path).parent)))

    # -- the wizard
    # -------------------------------------------------------------------------------------------------
    def open_wizard(self):
        from workbench.ui.panels.export.wizard import ExportWizard

        if self.wizard is not None and self.wizard.isVisible():
            self.wizard.raise_()
            self.wizard.activateWindow()
            return self.wizard
        self.wizard = ExportWizard(self.session, self.window())
        self.wizard.sig_exported.connect(self.add_report)
        self.wizard.show()
        return self.wizard

    def shutdown(self) -> None:
        if self.wizard is not None:
            self.wizard.shutdown()
