"""Projects never lost or detached (issue 26 "Nothing lost", issue 27 LOSS), driving the real window: an untitled
project with runs is unsaved (New / Open / Quit ask, the title shows *), recovery at start-up, Discard drops the
autosave, Save As copies the runs, labels belong to the open project, a moved project is never re-created at its
old path, two windows never overwrite each other silently, the Edit menu."""

from __future__ import annotations

import json
import os
import time

import pytest
from journeys import menu_action, training_panel
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QLabel

from workbench.core.project import Project, autosave_path, load_project, save_project
from workbench.ui import project_guard
from workbench.ui.main_window import MainWindow

REAL_ASK = project_guard.ask  # the tests' autouse fixture answers it at once; these tests click instead


@pytest.fixture
def real_questions(monkeypatch):
    monkeypatch.setattr(project_guard, "ask", REAL_ASK)


@pytest.fixture
def make_window(qtbot):
    made = []

    def make():
        win = MainWindow()
        if not made:
            win.settings.clear()
        win.resize(1280, 800)
        win.show()
        made.append(win)
        return win

    yield make
    for win in made:
        win.session._dirty = win.session._unsaved_runs = False  # what a test left unsaved asks nothing
        win.close()
        win.deleteLater()


def click_when_shown(box_name: str, button: str, seen: list | None = None) -> None:
    """Click `button` of the modal box `box_name` as soon as it is shown (as a user would)."""

    def step():
        box = QApplication.activeModalWidget()
        if box is None or box.objectName() != box_name:
            QTimer.singleShot(20, step)
            return
        if seen is not None:
            seen.append(box.text() if hasattr(box, "text") else box.objectName())
        next(b for b in box.buttons() if b.text() == button).click()

    QTimer.singleShot(0, step)


def add_run(runs_root, run_id="20260101-000000-aaaaaa", status="completed", accuracy=0.9):
    folder = runs_root / run_id
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"training": {"epochs": 1}, "name": run_id}))
    summary = {"status": status, "epochs_completed": 1, "best_val_accuracy": accuracy}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def saved_project(tmp_path, name="p", project_name=None):
    return save_project(Project(name=project_name or name), tmp_path / name / f"{name}.wbproj")


def test_untitled_project_with_runs_asks_on_new_open_and_quit(make_window, real_questions, monkeypatch):
    window = make_window()
    window.session.new(Project(name="Scratch"))
    assert not window.windowTitle().startswith("*")
    folder = window.session.runs_dir.parent
    add_run(window.session.runs_dir)
    window.session.sig_runs_changed.emit()  # as the training panel does when a run starts or ends
    assert window.windowTitle().startswith("*Scratch")
    seen = []
    click_when_shown("saveChangesBox", "Cancel", seen)
    menu_action(window, "File", "New project").trigger()
    assert "1 run" in seen[-1] and window.session.project.name == "Scratch"
    opened = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: opened.append(1) or ("", ""))
    click_when_shown("saveChangesBox", "Cancel")
    menu_action(window, "File", "Open...").trigger()
    assert not opened and window.session.project.name == "Scratch"
    click_when_shown("saveChangesBox", "Cancel")
    assert not window.close() and (folder / "runs").is_dir()  # Quit asks too; Cancel keeps everything
    click_when_shown("saveChangesBox", "Discard")
    assert window.close()
    assert not folder.exists()  # Discard said the runs go


def test_untitled_runs_come_back_at_start_up(make_window, real_questions, _isolated_home):
    first = make_window()
    first.session.new(Project(name="Left behind"))
    add_run(first.session.runs_dir, "20260101-000000-aaaaaa")
    add_run(first.session.runs_dir, "20260101-000001-bbbbbb")
    first.session.sig_runs_changed.emit()
    folder = first.session.runs_dir.parent
    first.session._dirty = first.session._unsaved_runs = False  # the app was killed
    first.shutdown()
    second = make_window()
    seen = []

    def pick():
        dialog = QApplication.activeModalWidget()
        if dialog is None or dialog.objectName() != "untitledRecoveryDialog":
            QTimer.singleShot(20, pick)
            return
        seen.append(dialog.list.item(0).text())
        dialog.recover_button.click()

    QTimer.singleShot(0, pick)
    assert second.offer_untitled_recovery()
    assert seen[0].startswith("Left behind · 2 runs · last run ")
    assert second.session.project.name == "Left behind" and second.session.runs_dir == folder / "runs"
    assert second.windowTitle().startswith("*")
    assert training_panel(second).runs.root_path() == folder / "runs"


def test_recovery_discard_deletes_after_confirmation(make_window, real_questions, _isolated_home):
    first = make_window()
    first.session.new(Project(name="Old"))
    add_run(first.session.runs_dir)
    folder = first.session.runs_dir.parent
    first.session._dirty = first.session._unsaved_runs = False
    second = make_window()
    second.session.new(Project(name="Now"))

    def discard():
        dialog = QApplication.activeModalWidget()
        if dialog is None or dialog.objectName() != "untitledRecoveryDialog":
            QTimer.singleShot(20, discard)
            return
        click_when_shown("confirmDiscardUntitledBox", "Discard")
        dialog.discard_button.click()

    QTimer.singleShot(0, discard)
    assert not second.offer_untitled_recovery()
    assert not folder.exists() and second.session.project.name == "Now"


def test_discard_removes_the_autosave(make_window, tmp_path):
    window = make_window()
    path = saved_project(tmp_path)
    window.open_project(path)
    window.session.rename("Edited")
    window.session.autosave()
    assert autosave_path(path).exists()
    window.open_project(saved_project(tmp_path, "other"))  # the fixture's answer: Discard
    assert not autosave_path(path).exists()
    asked = []
    window._offer_autosave_recovery = lambda: asked.append(1)
    window.open_project(path)
    assert load_project(path).name == "p"


def test_save_as_copies_the_runs_and_the_runs_view_follows(
    make_window, real_questions, tmp_path, monkeypatch
):
    window = make_window()
    path = saved_project(tmp_path, "a", "Keep my name")
    window.open_project(path)
    add_run(window.session.runs_dir)
    target = tmp_path / "b" / "b.wbproj"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    seen = []
    click_when_shown("saveAsRunsBox", "Copy runs", seen)
    menu_action(window, "File", "Save As...").trigger()
    assert "1 run(s)" in seen[0]
    assert window.session.path == target and window.session.project.name == "Keep my name"
    assert (tmp_path / "a" / "runs" / "20260101-000000-aaaaaa").is_dir()
    assert (tmp_path / "b" / "runs" / "20260101-000000-aaaaaa" / "summary.json").is_file()
    assert training_panel(window).runs.root_path() == tmp_path / "b" / "runs"
    assert window.last_project() == str(target)  # the app reopens it at the next start


def test_the_header_shows_the_open_projects_own_latest_run(make_window, tmp_path):
    window = make_window()
    a = saved_project(tmp_path, "a")
    add_run(a.parent / "runs", "20260101-000000-aaaaaa", accuracy=0.875)
    window.open_project(a)
    stats = training_panel(window).findChild(QLabel, "trainingStats")
    assert "20260101-000000-aaaaaa" in stats.text() and "87.50%" in stats.text()
    window.open_project(saved_project(tmp_path, "b"))
    assert stats.text() == ""  # b has no run: nothing of a's


def test_save_after_the_folder_moved_asks_where(make_window, real_questions, tmp_path, monkeypatch):
    window = make_window()
    path = saved_project(tmp_path, "proj")
    window.open_project(path)
    window.session.rename("Edited")
    (tmp_path / "proj").rename(tmp_path / "moved")
    seen, offered = [], []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: offered.append(a[2]) or ("", ""))
    click_when_shown("projectMovedBox", "Save As…", seen)
    assert not window.save()
    assert str(tmp_path / "moved") in seen[0] and offered == [str(tmp_path / "moved" / "proj.wbproj")]
    assert not (tmp_path / "proj").exists()  # never re-created at the old path


def test_two_windows_never_overwrite_each_other_silently(make_window, real_questions, tmp_path):
    path = saved_project(tmp_path, "shared")
    one, two = make_window(), make_window()
    one.open_project(path)
    two.open_project(path)
    one.session.rename("From one")
    assert one.save()
    two.session.rename("From two")
    click_when_shown("projectChangedBox", "Cancel")
    assert not two.save()
    assert load_project(path).name == "From one"  # not overwritten
    click_when_shown("projectChangedBox", "Reload")
    assert two.save()
    assert two.session.project.name == "From one" and not two.session.dirty
    two.session.rename("Two again")
    assert two.save()  # reloaded: its stamp is current, no question
    one.session.rename("One again")
    click_when_shown("projectChangedBox", "Overwrite")
    assert one.save()
    assert load_project(path).name == "One again"


def test_edit_menu_undo_redo_follow_the_builder(make_window):
    window = make_window()
    undo = menu_action(window, "Edit", "Undo")
    redo = menu_action(window, "Edit", "Redo")
    builder = window.panels["builderDock"]
    builder.undo_stack.clear()
    assert not undo.isEnabled() and not redo.isEnabled()
    layers = len(window.session.project.model.layers)
    builder.add_layer("Linear")  # what a click in the palette does
    assert len(window.session.project.model.layers) == layers + 1 and undo.isEnabled()
    undo.trigger()
    assert len(window.session.project.model.layers) == layers and redo.isEnabled()
    redo.trigger()
    assert len(window.session.project.model.layers) == layers + 1


@pytest.mark.slow
def test_ctrl_c_closes_the_app_like_quit(tmp_path):
    """SIGINT to the real app (offscreen: nobody can answer, so a clean stop without questions): exit 0, no
    KeyboardInterrupt traceback."""
    import signal
    import subprocess
    import sys

    project = saved_project(tmp_path, "p")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "WORKBENCH_HOME": str(tmp_path / "home")}
    env["WORKBENCH_STARTUP_TRACE"] = "1"
    code = "import sys; from workbench.app import main; sys.exit(main(sys.argv[1]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(project)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stdout:
            if line.startswith("startup event_loop"):
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "KeyboardInterrupt" not in err and "Traceback" not in err, err[-2000:]
