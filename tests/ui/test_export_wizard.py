"""Walk the export wizard to a finished ONNX export and see the report (pytest-qt, offscreen)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "export"))
from export_helpers import trained_digits_run

from workbench.core.project import Project, save_project
from workbench.ui.panels.export.wizard import BUDGET_PAGE, DESTINATION_PAGE, REPORT_PAGE


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
    session.actions["export"].trigger()
    wizard = panel.wizard
    assert wizard is not None and wizard.objectName() == "exportWizard"
    qtbot.waitUntil(wizard.isVisible)
    assert wizard.source_page.best.isChecked() and wizard.source_page.run() == run
    wizard.next()
    page = wizard.format_page
    page.formats.setCurrentIndex(page.formats.findData("onnx-int8-static"))
    assert page.nextId() == BUDGET_PAGE and "int8 static" in page.recommendation.text()
    page.opset.setValue(11)
    assert page.opset.value() == 13 and "13 or newer" in page.opset.toolTip()  # per-channel QDQ needs 13
    page.formats.setCurrentIndex(page.formats.findData("onnx"))
    assert page.nextId() == DESTINATION_PAGE and page.opset.isVisibleTo(page) and page.opset.minimum() == 7
    page.opset.setValue(18)
    wizard.next()
    destination = tmp_path / "out" / "digits.onnx"
    wizard.destination_page.path.setText(str(destination))
    assert wizard.button(QWizard.CommitButton).text() == "Export"
    wizard.next()  # starts the export in a wb-export QThread
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
    job = wizard.run_page.job
    said = []
    session.sig_status.connect(lambda text: said.append((text, job.ended, sorted(tmp_path.iterdir()))))
    wizard.reject()  # Cancel: the wizard closes at once, the export stops
    assert not wizard.run_page.is_running()
    assert said == [("Cancelling the export…", False, said[0][2])]  # not yet "nothing was written"
    # at its next step it stops in the trainer process and removes its hidden work folder; then it says so
    qtbot.waitUntil(lambda: len(said) == 2, timeout=60_000)
    assert said[1] == ("Export cancelled; nothing was written.", True, [])
    assert list(tmp_path.iterdir()) == []
    panel.shutdown()


@pytest.fixture
def session_with_broken_run(tmp_path_factory, qtbot):
    """A trained two-convolution CNN whose second convolution has an outlier weight scale (int8 breaks)."""
    from export_helpers import TWO_CONV_CNN

    from workbench.ui.session import ProjectSession

    run = trained_digits_run(tmp_path_factory.mktemp("export-ui-broken"), spec_dict=TWO_CONV_CNN, broken=True)
    project_file = run.parent.parent / "digits.wbproj"
    if not project_file.exists():
        save_project(Project(name="digits"), project_file)
    session = ProjectSession()
    session.open(project_file)
    session.select_run(run)
    return session, run


def _to_budget_page(wizard, qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    qtbot.waitUntil(wizard.isVisible)
    wizard.next()
    formats = wizard.format_page.formats
    formats.setFocus()
    while formats.currentData() != "onnx-int8-static":  # as a user would: arrow keys through the list
        QTest.keyClick(formats, Qt.Key_Down)
    wizard.next()
    assert wizard.currentId() == BUDGET_PAGE
    return wizard.budget_page


def _type(widget, text):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    widget.setFocus()
    widget.selectAll()
    QTest.keyClicks(widget, text)
    QTest.keyClick(widget, Qt.Key_Tab)


def test_budget_page_keeps_the_broken_layer_in_fp32_and_shows_its_sensitivity(
    session_with_broken_run, qtbot, tmp_path
):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from workbench.ui.panels.export import ExportPanel

    session, _run = session_with_broken_run
    panel = ExportPanel(session)
    qtbot.addWidget(panel)
    wizard = panel.open_wizard()
    budget = _to_budget_page(wizard, qtbot)
    assert budget.use_budget.isChecked() and budget.drop.isEnabled()
    _type(budget.drop, "0.5")
    _type(budget.samples, "64")
    assert budget.drop.value() == 0.5 and budget.samples.value() == 64
    wizard.next()
    destination = tmp_path / "int8.onnx"
    wizard.destination_page.path.setText(str(destination))
    wizard.next()
    qtbot.waitUntil(lambda: wizard.currentId() == REPORT_PAGE, timeout=120_000)
    page = wizard.report_page
    assert "Verified" in page.verdict.text() and "0.5 points" in page.verdict.text()
    assert page.sensitivity.isVisibleTo(page) and not page.keep.isVisibleTo(page)
    assert page.table.item(0, 0).text() == "node_conv2d_1" and page.table.item(0, 4).text() == "yes"
    assert page.chart.getAxis("left")._tickLevels[0][0][1].startswith("node_conv2d_1")
    assert destination.is_file() and session.project.export.max_accuracy_drop == 0.5
    assert panel.table.rowCount() == 1
    QTest.mouseClick(wizard.button(wizard.WizardButton.FinishButton), Qt.LeftButton)
    panel.shutdown()


def test_a_failed_verification_is_shown_and_kept_only_when_asked(session_with_broken_run, qtbot, tmp_path):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from workbench.ui.panels.export import ExportPanel

    session, _run = session_with_broken_run
    panel = ExportPanel(session)
    qtbot.addWidget(panel)
    wizard = panel.open_wizard()
    budget = _to_budget_page(wizard, qtbot)
    budget.use_budget.setFocus()
    QTest.keyClick(budget.use_budget, Qt.Key_Space)  # no budget: judged by top-1 agreement (97%)
    assert not budget.use_budget.isChecked() and not budget.drop.isEnabled()
    _type(budget.samples, "64")
    wizard.next()
    wizard.destination_page.path.setText(str(tmp_path / "a.onnx"))
    wizard.next()
    qtbot.waitUntil(lambda: wizard.currentId() == REPORT_PAGE, timeout=120_000)
    page = wizard.report_page
    assert "Verification failed" in page.verdict.text() and "top-1 agreement" in page.verdict.text()
    held = [p.name for p in tmp_path.iterdir()]
    assert page.keep.isVisibleTo(page) and len(held) == 1 and held[0].startswith(".a.onnx.")  # held, hidden
    assert panel.table.rowCount() == 0
    QTest.mouseClick(page.keep, Qt.LeftButton)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.onnx", "a.onnx.report.json", "a.onnx.report.md"]
    assert not page.keep.isVisibleTo(page) and panel.table.rowCount() == 1
    assert panel.table.item(0, 6).text() == "failed"
    wizard.accept()

    wizard = panel.open_wizard()  # again, and close without keeping
    budget = _to_budget_page(wizard, qtbot)
    budget.use_budget.setFocus()
    QTest.keyClick(budget.use_budget, Qt.Key_Space)
    wizard.next()
    wizard.destination_page.path.setText(str(tmp_path / "b.onnx"))
    wizard.next()
    qtbot.waitUntil(lambda: wizard.currentId() == REPORT_PAGE, timeout=120_000)
    QTest.mouseClick(wizard.button(wizard.WizardButton.FinishButton), Qt.LeftButton)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.onnx", "a.onnx.report.json", "a.onnx.report.md"]
    panel.shutdown()


def test_tensorrt_is_offered_disabled_with_what_to_install(session_with_run, qtbot):
    import importlib.util

    from PySide6.QtCore import Qt

    from workbench.ui.panels.export import ExportPanel

    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is installed here: the option is enabled")
    session, _run = session_with_run
    panel = ExportPanel(session)
    qtbot.addWidget(panel)
    wizard = panel.open_wizard()
    wizard.next()
    formats = wizard.format_page.formats
    index = formats.findData("tensorrt-int8")
    assert index >= 0 and "(not installed)" in formats.itemText(index)
    assert not formats.model().item(index).isEnabled()
    assert "pip install tensorrt" in formats.itemData(index, Qt.ToolTipRole)
    wizard.reject()
    panel.shutdown()
