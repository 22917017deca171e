"""The smaller snags of issue 15, each through the window: Cancel in the export wizard says so, undo back to the
saved state clears the `*`, Open Recent shows full paths, a model spec opened as a project points to Spec > Open,
and a failed run's banner goes when another project opens."""

from __future__ import annotations

import json

import pytest
from journeys import menu_action, open_export_wizard
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWizard

from workbench.core.paths import sample_project
from workbench.ui.main_window import MainWindow


@pytest.fixture
def window(qtbot):
    win = MainWindow()
    win.settings.clear()
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    yield win
    win.session._set_dirty(False)
    win.shutdown()


def test_cancel_in_the_export_wizard_leaves_a_status_message(qtbot, window):
    wizard = open_export_wizard(qtbot, window)
    QTest.mouseClick(wizard.button(QWizard.CancelButton), Qt.LeftButton)
    assert not wizard.isVisible()
    assert window.statusBar().currentMessage().startswith("Export cancelled")


def test_undo_back_to_the_saved_state_clears_the_star(qtbot, window):
    assert window.open_project(sample_project())
    builder = window.panels["builderDock"]
    builder.add_layer("ReLU")
    assert window.windowTitle().startswith("*") and window.session.dirty
    builder.undo_stack.undo()
    assert not window.session.dirty and not window.windowTitle().startswith("*")
    assert "*" not in window.project_label.text()


def test_open_recent_shows_full_paths(qtbot, window, tmp_path):
    from workbench.core.project import load_project, save_project

    paths = []
    for name in ("a", "b"):
        path = tmp_path / name / "project.wbproj"
        path.parent.mkdir()
        save_project(load_project(sample_project()), path)
        assert window.open_project(path)
        paths.append(str(path.resolve()))
    window._fill_recent_menu()
    texts = [a.text() for a in window.recent_menu.actions()]
    assert texts[:2] == paths[::-1]  # two files called project.wbproj, told apart by their folders


def test_a_model_spec_opened_as_a_project_points_to_spec_open(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a, **k: shown.append(text))
    spec = tmp_path / "cnn.json"
    spec.write_text(
        json.dumps(
            {
                "format_version": 1,
                "input_shape": [1, 8, 8],
                "layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 10}],
            }
        )
    )
    assert not window.open_project(spec, confirmed=True)
    text = shown[-1]
    assert "model spec, not a project" in text and "Spec > Open spec" in text and "\n" not in text
    assert "Extra inputs" not in text


def test_a_failed_runs_banner_goes_when_another_project_opens(qtbot, window):
    panel = window.panels["trainingDock"]
    panel.error_box.show_error("the loss became NaN at step 3")
    assert panel.error_box.isVisible()
    menu_action(window, "File", "New project")  # the menu exists; opening a project is what clears it
    assert window.open_project(sample_project())
    assert not panel.error_box.isVisible()
