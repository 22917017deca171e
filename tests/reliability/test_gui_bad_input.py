"""Bad input in the GUI: a dialog with a clear message (QMessageBox captured), never a traceback, the current
project kept, and nothing on disk changed or lost."""

from __future__ import annotations

import errno
import json
import os

import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox
from reliability_helpers import assert_unchanged, disk_state, refused_writes

from workbench.core.project import autosave_path


@pytest.fixture
def dialogs(monkeypatch):
    """Every QMessageBox.warning / critical the window shows: (title, text)."""
    shown: list[tuple[str, str]] = []

    def capture(parent, title, text, *args, **kwargs):
        shown.append((title, text))
        return QMessageBox.Ok

    monkeypatch.setattr(QMessageBox, "warning", capture)
    monkeypatch.setattr(QMessageBox, "critical", capture)
    return shown


@pytest.fixture
def window(qtbot, project_copy):
    from workbench.ui.main_window import MainWindow

    window = MainWindow()
    window._ask_save_changes = lambda: QMessageBox.Discard  # closing an edited project asks; tests answer
    qtbot.addWidget(window)
    assert window.open_project(project_copy, confirmed=True)
    yield window
    window.shutdown()


CORRUPT = {
    "truncated": (lambda text: text[: len(text) // 3].encode(), "not valid JSON"),
    "binary garbage": (lambda text: bytes(range(256)), "not a text (UTF-8 JSON) file"),
    "future version": (
        lambda text: json.dumps({**json.loads(text), "format_version": 3}).encode(),
        "update Workbench",
    ),
    "wrong types": (
        lambda text: json.dumps({**json.loads(text), "training": {"epochs": [1]}}).encode(),
        "training.epochs",
    ),
}


def test_opening_corrupt_projects_shows_a_dialog_and_keeps_the_current_one(
    window, project_copy, tmp_path, dialogs
):
    session = window.session
    current, current_path = session.project, session.path
    for name, (make, fragment) in CORRUPT.items():
        bad = tmp_path / f"bad {name} ü.wbproj"
        bad.write_bytes(make(project_copy.read_text(encoding="utf-8")))
        before = disk_state(tmp_path)
        dialogs.clear()
        assert window.open_project(bad, confirmed=True) is False
        assert len(dialogs) == 1, name
        title, text = dialogs[0]
        assert title == "Cannot open project" and fragment in text and "Traceback" not in text, (name, text)
        assert session.project is current and session.path == current_path and not session.dirty
        assert_unchanged(before, disk_state(tmp_path))


def test_saving_into_a_read_only_folder_shows_a_dialog(window, project_copy, tmp_path, dialogs, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "existing.wbproj").write_bytes(project_copy.read_bytes())
    window.session.rename("edited")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(locked / "existing.wbproj"), ""))
    before = disk_state(tmp_path)
    with refused_writes(locked, monkeypatch):
        assert window.save_as() is False
    assert_unchanged(before, disk_state(tmp_path))
    assert dialogs and dialogs[0][0] == "Cannot save project" and "Permission denied" in dialogs[0][1]
    assert window.session.dirty and window.session.path == project_copy.resolve()


def test_saving_on_a_full_disk_shows_a_dialog_and_keeps_the_file(window, project_copy, dialogs, monkeypatch):
    window.session.rename("edited")
    before = disk_state(project_copy.parent)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    assert window.save() is False
    window.session.autosave()  # the 30 s autosave hits the same full disk
    monkeypatch.undo()
    assert_unchanged(before, disk_state(project_copy.parent))
    assert (
        len(dialogs) == 1
        and "No space left on device" in dialogs[0][1]
        and "free some disk space" in dialogs[0][1]
    )
    assert window.session.dirty and not autosave_path(project_copy).exists()
    assert "Autosave failed" in window.statusBar().currentMessage()


@pytest.mark.slow
def test_training_on_a_missing_gpu_shows_the_reason(window, project_copy, qtbot, dialogs):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    panel = window.panels["trainingDock"]
    runs = project_copy.parent / "runs"
    before = disk_state(project_copy.parent)
    window.session.set_device("cuda:0")
    assert panel.start()
    qtbot.waitUntil(lambda: not panel.running, timeout=60_000)
    assert not panel.error_box.isHidden()
    text = panel.error_box.message.text()
    assert "no CUDA GPU" in text and "Traceback" not in text
    assert_unchanged(before, disk_state(project_copy.parent))
    assert len([p for p in runs.iterdir() if p.is_dir()]) == 1  # no run folder for a start that failed


def test_a_corrupt_autosave_is_refused_and_kept(qtbot, project_copy, dialogs, monkeypatch):
    """A newer autosave beside the project is offered; a damaged one is refused with a dialog, and neither the
    project nor the autosave (perhaps the user's only copy of those edits) is touched."""
    from workbench.ui.main_window import MainWindow

    side = autosave_path(project_copy)
    side.write_bytes(project_copy.read_bytes()[:200])
    os.utime(side, (project_copy.stat().st_mtime + 60,) * 2)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Yes)  # "Recover them?" -> Yes
    before = disk_state(project_copy.parent)
    window = MainWindow()
    qtbot.addWidget(window)
    try:
        assert window.open_project(project_copy, confirmed=True)
        assert dialogs and dialogs[0][0] == "Cannot recover autosave" and "not valid JSON" in dialogs[0][1]
        assert window.session.path == project_copy.resolve() and not window.session.dirty
        assert_unchanged(before, disk_state(project_copy.parent))
    finally:
        window.shutdown()
