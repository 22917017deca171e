"""What a user does in the real window, as steps the journey tests share: menus and buttons clicked, text typed
(QTest), modal dialogs answered while they are open. Waits are generous (training may run in another process)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QApplication,
    QDialogButtonBox,
    QFileDialog,
    QPushButton,
    QSpinBox,
    QTableView,
    QTabWidget,
    QToolBar,
    QWizard,
)

WAIT_MS = 60_000


def menu_action(window, menu_title: str, text: str) -> QAction:
    for menu_action_ in window.menuBar().actions():
        if menu_action_.text().replace("&", "") == menu_title:
            for action in menu_action_.menu().actions():
                if action.text().replace("&", "") == text:
                    return action
    raise AssertionError(f"no {menu_title} > {text}")


def click(widget) -> None:
    assert widget.isEnabled(), f"{widget.objectName() or widget.text()} is disabled"
    QTest.mouseClick(widget, Qt.LeftButton)


def type_into(edit, text: str) -> None:
    edit.setFocus()
    edit.selectAll()
    QTest.keyClick(edit, Qt.Key_Delete)
    QTest.keyClicks(edit, text)
    QTest.keyClick(edit, Qt.Key_Tab)  # leaves the field: editingFinished


def answer_modal(qtbot, trigger, drive) -> None:
    """Call `trigger()` (which opens a modal dialog and blocks in exec), and `drive(dialog)` while it is open."""
    outcome: list = []

    def step():
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(20, step)
            return
        try:
            drive(dialog)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - reported below, after exec returns
            outcome.append(exc)
            dialog.reject()

    QTimer.singleShot(0, step)
    trigger()
    assert outcome, "no modal dialog opened"
    if outcome[0] is not None:
        raise outcome[0]


def new_project_from_data(
    qtbot,
    window,
    kind: str,
    source: Path | None,
    target: str | None = None,
    template: str | None = None,
    name: str | None = None,
) -> None:
    """File > New project: pick the source, Inspect, pick the template, Create project."""

    def drive(dialog):
        form = dialog.source_form
        form.kind.setCurrentIndex(form.kind.findData(kind))
        if source is not None:
            type_into(form.path.edit, str(source))
        if target is not None:
            type_into(form.target.lineEdit(), target)
        click(form.load_button)
        create = dialog.buttons.button(QDialogButtonBox.Ok)
        qtbot.waitUntil(create.isEnabled, timeout=WAIT_MS)
        if template is not None:
            index = dialog.template.findData(template)
            offered = [dialog.template.itemData(i) for i in range(dialog.template.count())]
            assert index >= 0, f"{template} not offered: {offered}"
            dialog.template.setCurrentIndex(index)
        if name is not None:
            type_into(dialog.name, name)
        click(create)

    answer_modal(qtbot, menu_action(window, "File", "New project").trigger, drive)


def training_panel(window):
    return window.panels["trainingDock"]


def data_loaded(window) -> bool:
    return window.session.data is not None


def set_epochs(window, epochs: int, batch_size: int | None = None) -> None:
    panel = training_panel(window)
    tabs = panel.findChild(QTabWidget, "trainingTabs")
    tabs.setCurrentIndex(tabs.indexOf(panel.settings))
    for name, value in (("epochsSpin", epochs), ("batchSizeSpin", batch_size)):
        if value is None:
            continue
        spin = panel.findChild(QSpinBox, name)
        spin.lineEdit().selectAll()
        QTest.keyClicks(spin.lineEdit(), str(value))
        QTest.keyClick(spin, Qt.Key_Tab)
        assert spin.value() == value
    assert window.session.project.training.epochs == epochs


def run_rows(window) -> list[list[str]]:
    """The Runs table's rows as shown (newest first): [name, status, settings..., results..., tags]."""
    model = training_panel(window).findChild(QTableView, "runList").model()
    cols = model.columnCount()
    return [[model.index(i, c).data() or "" for c in range(cols)] for i in range(model.rowCount())]


def run_columns(window) -> list[str]:
    """The Runs table's column titles."""
    model = training_panel(window).findChild(QTableView, "runList").model()
    return [model.headerData(c, Qt.Horizontal) for c in range(model.columnCount())]


def train(qtbot, window, runs_before: int | None = None) -> list[str]:
    """Click Start; wait until the run is listed as completed and the Start button is back. The new run's row."""
    panel = training_panel(window)
    start = panel.findChild(QPushButton, "startTrainingButton")
    before = len(run_rows(window)) if runs_before is None else runs_before
    qtbot.waitUntil(start.isEnabled, timeout=WAIT_MS)
    click(start)
    qtbot.waitUntil(lambda: not start.isEnabled(), timeout=WAIT_MS)

    def done():
        rows = run_rows(window)
        return start.isEnabled() and len(rows) == before + 1 and rows[0][1] == "completed"

    qtbot.waitUntil(done, timeout=WAIT_MS)
    return run_rows(window)[0]


def evaluate_newest_run(qtbot, window) -> str:
    """Runs tab, select the newest run, Evaluate: the Evaluation tab's status with its accuracy."""
    panel = training_panel(window)
    tabs = panel.findChild(QTabWidget, "trainingTabs")
    tabs.setCurrentIndex(tabs.indexOf(panel.runs))
    table = panel.findChild(QTableView, "runList")
    newest = table.model().index(0, 1)  # the status cell: a click there selects, never ticks
    QTest.mouseClick(table.viewport(), Qt.LeftButton, Qt.NoModifier, table.visualRect(newest).center())
    assert table.selectionModel().isRowSelected(0)
    status = panel.evaluation.status
    again = panel.evaluation.evaluate_button
    qtbot.waitUntil(
        lambda: "accuracy" in status.text() and again.isEnabled(), timeout=WAIT_MS
    )  # after training
    click(panel.findChild(QPushButton, "evaluateRunButton"))
    qtbot.waitUntil(lambda: "accuracy" in status.text() and again.isEnabled(), timeout=WAIT_MS)
    row = table.model().index(0, 0).data(Qt.UserRole)
    assert row.name in status.text() or row.id in status.text()
    return status.text()


def open_export_wizard(qtbot, window) -> QWizard:
    """The toolbar's Export... button."""
    bar = window.findChild(QToolBar, "mainToolBar")
    next(a for a in bar.actions() if a.text() == "Export...").trigger()
    qtbot.waitUntil(lambda: _visible_wizard(window) is not None, timeout=WAIT_MS)
    return _visible_wizard(window)


def _visible_wizard(window) -> QWizard | None:
    return next((w for w in window.findChildren(QWizard, "exportWizard") if w.isVisible()), None)


def export_runs(wizard) -> list[str]:
    combo = wizard.source_page.runs
    return [combo.itemText(i) for i in range(combo.count())]


def export_best_checkpoint(qtbot, window, destination: Path) -> Path:
    """Export... -> the newest run's best checkpoint -> ONNX -> destination -> Export; the file written."""
    wizard = open_export_wizard(qtbot, window)
    assert export_runs(wizard), "the export wizard lists no runs"
    assert wizard.source_page.best.isChecked() or click(wizard.source_page.best) is None
    click(wizard.button(QWizard.NextButton))
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.format_page, timeout=5000)
    while wizard.currentPage() is not wizard.destination_page:
        click(wizard.button(QWizard.NextButton))
    type_into(wizard.destination_page.path, str(destination))
    click(wizard.button(QWizard.CommitButton))
    run_page = wizard.run_page
    qtbot.waitUntil(
        lambda: wizard.currentPage() is wizard.report_page or bool(run_page.error.text()), timeout=WAIT_MS
    )
    assert wizard.currentPage() is wizard.report_page, f"{run_page.status.text()} {run_page.error.text()}"
    assert destination.is_file()
    click(wizard.button(QWizard.FinishButton))
    return destination


def save_as(qtbot, window, monkeypatch, path: Path) -> None:
    """File > Save As..., answering the file dialog with `path`."""
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    menu_action(window, "File", "Save As...").trigger()


def open_project(window, monkeypatch, path: Path) -> None:
    """File > Open..., answering the file dialog with `path`."""
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    menu_action(window, "File", "Open...").trigger()
