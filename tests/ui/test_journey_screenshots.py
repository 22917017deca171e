"""Screenshots for issue 15 (`make screenshots`): every panel at 1280x800 and 1920x1080 after a CSV journey
(breast-cancer table: New project -> Inspect -> Create -> train -> evaluate), and the New project dialog after a
CSV inspect. Written to $WORKBENCH_SCREENSHOTS (docs/screenshots) or, without it, to a temp folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from journeys import (
    answer_modal,
    click,
    data_loaded,
    evaluate_newest_run,
    menu_action,
    set_epochs,
    train,
    training_panel,
    type_into,
)
from PySide6.QtWidgets import QDialogButtonBox, QTabWidget
from realdata import write_sklearn_csv

from workbench.ui.main_window import MainWindow

pytestmark = pytest.mark.screenshots
SIZES = ((1280, 800), (1920, 1080))
WAIT_MS = 60_000


def _out(tmp_path) -> Path:
    folder = Path(os.environ.get("WORKBENCH_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_journey_screenshots(qtbot, tmp_path):
    out = _out(tmp_path)
    csv = write_sklearn_csv(tmp_path / "breast_cancer.csv", "breast_cancer")
    window = MainWindow()
    window.settings.clear()
    qtbot.addWidget(window)
    window.resize(*SIZES[0])
    window.show()
    qtbot.waitExposed(window)

    def drive(dialog):
        form = dialog.source_form
        form.kind.setCurrentIndex(form.kind.findData("csv"))
        type_into(form.path.edit, str(csv))
        type_into(form.target.lineEdit(), "target")
        click(form.options_toggle)
        click(form.load_button)
        create = dialog.buttons.button(QDialogButtonBox.Ok)
        qtbot.waitUntil(create.isEnabled, timeout=WAIT_MS)
        for width, height in SIZES:
            dialog.resize(620, min(900, height - 40))
            qtbot.wait(100)
            dialog.grab().save(str(out / f"new_project_csv_{width}x{height}.png"))
        click(create)

    answer_modal(qtbot, menu_action(window, "File", "New project").trigger, drive)
    qtbot.waitUntil(lambda: data_loaded(window), timeout=WAIT_MS)
    set_epochs(window, 3)
    train(qtbot, window)
    train(qtbot, window)
    evaluate_newest_run(qtbot, window)
    panel = training_panel(window)
    runs = panel.runs
    for row in runs.rows():
        runs.set_overlay(row.path)
    tabs = panel.findChild(QTabWidget, "trainingTabs")
    views = (
        ("dataset", "datasetDock", "hardwareDock", panel.curves),
        ("builder", "builderDock", "exportDock", panel.runs),
        ("evaluation", "datasetDock", "hardwareDock", panel.evaluation),
        ("settings", "builderDock", "exportDock", panel.settings),
    )
    for width, height in SIZES:
        window.resize(width, height)
        window.reset_layout()
        qtbot.wait(200)
        for name, left, bottom, tab in views:
            window.docks[left].raise_()
            window.docks[bottom].raise_()
            tabs.setCurrentWidget(tab)
            qtbot.wait(150)
            window.grab().save(str(out / f"journey_{name}_{width}x{height}.png"))
    window.session._set_dirty(False)
    window.shutdown()
