"""The main window: docks by object name, menus, dirty flag, unsaved-changes prompt, corrupt files, layout."""

import pytest
from PySide6.QtWidgets import QDockWidget, QMessageBox

from workbench.core.paths import SAMPLE_PROJECT, sample_project
from workbench.core.project import autosave_path, load_project, save_project
from workbench.ui.main_window import MainWindow

DOCKS = ("datasetDock", "builderDock", "trainingDock", "hardwareDock", "exportDock")


@pytest.fixture
def window(qtbot, monkeypatch):
    # No modal dialog may block a test: any warning box is recorded instead.
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[1:3]) or QMessageBox.Ok)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: shown.append(a[1:3]) or QMessageBox.No)
    win = MainWindow()
    win.settings.clear()
    win.warnings = shown
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    yield win
    win.session._set_dirty(False)
    win.shutdown()


def test_five_docks_by_object_name(window):
    assert window.objectName() == "mainWindow"
    for name in DOCKS:
        dock = window.findChild(QDockWidget, name)
        assert dock is not None, name
        assert dock.widget() is not None


def test_docks_hide_and_restore(window, qtbot):
    dock = window.findChild(QDockWidget, "hardwareDock")
    dock.toggleViewAction().trigger()
    assert not dock.isVisible()
    dock.toggleViewAction().trigger()
    assert dock.isVisible()
    dock.close()
    size = window.size()
    window.reset_layout()
    qtbot.waitUntil(dock.isVisible)
    assert window.size() == size  # the reset must not grow the window
    assert window.docks["trainingDock"].height() > window.docks["hardwareDock"].height() > 100


def test_open_sample_sets_title(window):
    assert window.open_project(sample_project())
    assert "Digits (sample)" in window.windowTitle()
    assert not window.windowTitle().startswith("*")


def test_edit_marks_dirty_with_star(window):
    window.open_project(sample_project())
    training = window.session.project.training.model_copy(update={"epochs": 3})
    window.session.update_training(training)
    assert window.windowTitle().startswith("*")


def test_corrupt_project_is_refused_and_left_unchanged(window, tmp_path):
    window.open_project(sample_project())
    bad = tmp_path / "bad.wbproj"
    bad.write_text('{"format_version": 1, "training": {"epochs": "many"}')
    before = bad.read_bytes()
    assert not window.open_project(bad)
    assert window.warnings and "not valid JSON" in window.warnings[-1][1]
    assert bad.read_bytes() == before
    assert window.session.path == sample_project().resolve()  # the open project is kept


def test_closing_with_unsaved_changes_asks(window, monkeypatch, tmp_path):
    path = save_project(load_project(SAMPLE_PROJECT), tmp_path / "p.wbproj")
    window.open_project(path)
    window.session.rename("Changed")
    asked = []
    monkeypatch.setattr(window, "_ask_save_changes", lambda: asked.append(1) or QMessageBox.Cancel)
    assert not window.close()  # Cancel keeps the window open
    assert asked and window.isVisible()
    monkeypatch.setattr(window, "_ask_save_changes", lambda: QMessageBox.Save)
    assert window.close()
    assert load_project(path).name == "Changed"


def test_save_writes_and_clears_dirty(window, tmp_path):
    path = save_project(load_project(SAMPLE_PROJECT), tmp_path / "p.wbproj")
    window.open_project(path)
    window.session.rename("Renamed")
    window.session.autosave()
    assert autosave_path(path).exists()
    assert window.save()
    assert not window.session.dirty
    assert load_project(path).name == "Renamed"
    assert not autosave_path(path).exists()


def test_autosave_is_offered_on_reopen(window, tmp_path, monkeypatch):
    path = save_project(load_project(SAMPLE_PROJECT), tmp_path / "p.wbproj")
    window.open_project(path)
    window.session.rename("Unsaved edit")
    window.session.autosave()
    window.session._set_dirty(False)  # as if the app had crashed
    import os
    import time

    later = time.time() + 5
    os.utime(autosave_path(path), (later, later))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Yes)
    window.open_project(path)
    assert window.session.project.name == "Unsaved edit"
    assert window.session.dirty
    assert load_project(path).name == "Digits (sample)"  # the project file itself untouched


def test_layout_is_restored_on_next_start(window, qtbot):
    window.findChild(QDockWidget, "exportDock").close()
    window.resize(1000, 640)  # small enough for the offscreen screen, which restoreGeometry clamps to
    window._save_layout()
    again = MainWindow()
    qtbot.addWidget(again)
    again.show()
    try:
        assert not again.findChild(QDockWidget, "exportDock").isVisible()
        assert again.size() == window.size()  # (the offscreen screen may clamp both)
        assert again.size().toTuple() != (1600, 1000)
    finally:
        again.shutdown()
        again.settings.clear()


def test_the_first_window_takes_80_percent_of_the_screen_centred(qtbot):
    from workbench.ui.main_window import FIRST_SCREEN_SHARE

    first = MainWindow()
    first.settings.clear()  # no saved geometry: a first start
    first._restore_layout()
    qtbot.addWidget(first)
    try:
        area = first.screen().availableGeometry()
        assert first.width() == int(area.width() * FIRST_SCREEN_SHARE) > 0
        assert first.height() == int(area.height() * FIRST_SCREEN_SHARE) > 0
        assert abs(first.geometry().center().x() - area.center().x()) <= 1
    finally:
        first.shutdown()


def test_about_names_versions_from_the_trainer_process(window, qtbot):
    from workbench.ui.main_window import about_text

    host = window.session.jobs.host
    qtbot.waitUntil(lambda: bool(host.ready and host.versions), timeout=120_000)
    text = about_text(host)
    assert (
        "Qt" in text and f"torch {host.versions['torch']}" in text and ("CUDA" in text or "no CUDA" in text)
    )


def test_file_new_uses_the_data_dialog(window, monkeypatch):
    from workbench.core.project import Project
    from workbench.ui.panels.dataset import new_project

    class _Picked:
        def __init__(self, parent):
            pass

        def exec(self):
            return 1

        def project(self):
            return Project(name="From data")

    monkeypatch.setattr(new_project, "NewFromDataDialog", _Picked)
    window.new_project()
    assert window.session.project.name == "From data"
    assert window.session.path is None
    assert "From data" in window.windowTitle()


def test_deferred_panels_are_built_after_the_window_shows(qtbot):
    win = MainWindow(defer_panels=True)
    qtbot.addWidget(win)
    win.show()
    assert win.panels == {}
    assert all(dock.widget().text().startswith("Loading") for dock in win.docks.values())
    win.build_panels()
    assert set(win.panels) == set(DOCKS)
    assert win.docks["trainingDock"].widget() is win.panels["trainingDock"]
    win.shutdown()


def test_about_names_versions_of_a_trainer_process_taken_ready(window, qtbot):
    # a process that was ready before this window took it (the tests park one between windows) brings its versions
    from workbench.ui.main_window import about_text

    host = window.session.jobs.host
    qtbot.waitUntil(lambda: host.ready, timeout=120_000)
    window.session._set_dirty(False)
    window.shutdown()  # parks the ready process
    second = MainWindow()
    try:
        second.session.jobs.warm_up()
        assert second.session.jobs.host.ready  # the parked one, whose Ready the first window read
        assert f"torch {second.session.jobs.host.versions['torch']}" in about_text(second.session.jobs.host)
    finally:
        second.session._set_dirty(False)
        second.shutdown()
