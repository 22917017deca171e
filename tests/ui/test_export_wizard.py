"""Walk the export wizard to a finished ONNX export and see the report (pytest-qt, offscreen)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "export"))
from export_helpers import trained_digits_run  # noqa: E402

from workbench.core.project import Project, save_project  # noqa: E402


@pytest.fixture
def session_with_run(tmp_path_factory, qtbot):
    from workbench.ui.session import ProjectSession

    run = trained_digits_run(tmp_path_factory.mktemp("export-ui"))
    project_file = run.parent.parent / "digits.wbproj"
    if not project_file.exists():
        save_project(Project(name="digits"), project_file)
    session = ProjectSession()
    session.open(project_file)
    return session, run


def test_wizard_exports_a_run_to_onnx_and_shows_the_report(session_with_run, qtbot, tmp_path):
    from PySide6.QtWidgets import QApplication, QWizard

    from workbench.ui.panels.export import ExportPanel

    session, run = session_with_run
    panel = ExportPanel(session)
    qtbot.addWidget(panel)
    assert panel.empty.isVisibleTo(panel) and "No exports yet" in panel.empty.text()
    session.select_run(run)
    assert run.name in panel.source_label.text()
    session.sig_command.emit("export")
    wizard = panel.wizard
    assert wizard is not None and wizard.objectName() == "exportWizard"
    qtbot.waitUntil(wizard.isVisible)
    assert wizard.source_page.best.isChecked() and wizard.source_page.run() == run
    wizard.next()
    page = wizard.format_page
    page.formats.setCurrentIndex(page.formats.findData("onnx-int8-static"))
    assert page.samples.isVisibleTo(page) and "int8 static" in page.recommendation.text()
    page.formats.setCurrentIndex(page.formats.findData("onnx"))
    assert not page.samples.isVisibleTo(page) and page.opset.isVisibleTo(page)
    wizard.next()
    destination = tmp_path / "out" / "digits.onnx"
    wizard.destination_page.path.setText(str(destination))
    assert wizard.button(QWizard.CommitButton).text() == "Export"
    wizard.next()                                   # starts the export in a wb-export QThread
    assert wizard.currentId() == 3
    qtbot.waitUntil(lambda: wizard.currentId() == 4, timeout=120_000)
    text = wizard.report_page.view.toPlainText()
    assert "digits.onnx" in text and "accuracy" in text and "Structural check: passed" in text
    assert destination.is_file() and Path(str(destination) + ".report.json").is_file()
    assert session.project.export.format == "onnx" and session.project.export.destination == str(destination)
    wizard.report_page.copy_report()
    assert "Export report" in QApplication.clipboard().text()
    assert panel.table.rowCount() == 1 and panel.table.item(0, 0).text() == "digits.onnx"
    assert panel.table.isVisibleTo(panel)
    wizard.accept()
    panel.shutdown()


def test_current_model_warns_untrained_and_cancel_leaves_nothing(session_with_run, qtbot, tmp_path):
    from workbench.ui.panels.export import ExportPanel

    session, _run = session_with_run
    panel = ExportPanel(session)
    qtbot.addWidget(panel)
    wizard = panel.open_wizard()
    wizard.source_page.current.setChecked(True)
    assert "random weights" in wizard.source_page.warning.text()
    wizard.next()
    wizard.next()
    wizard.destination_page.path.setText(str(tmp_path / "c.onnx"))
    wizard.next()
    assert wizard.run_page.is_running()
    wizard.reject()                                  # Cancel: stops the export and waits for the thread
    assert not wizard.run_page.is_running()
    assert list(tmp_path.iterdir()) == []
    panel.shutdown()
