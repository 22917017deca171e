"""A project folder moved, renamed or deleted while a run trains (issue 27 LOSS): the run's checkpoint and
summary follow the folder to where it is now; a deleted folder ends the run with one message; the old path is
never re-created."""

from __future__ import annotations

import json
import shutil

from training_helpers import make_project

from workbench.core.project_files import FolderVanished, FollowedFolder
from workbench.core.training.control import TrainingControl
from workbench.core.training.loop import train


def _train_and(project_dir, digits, at_step, action):
    control = TrainingControl()
    events = []
    for event in train(make_project(epochs=3), digits, control=control, runs_root=project_dir / "runs"):
        events.append(event)
        if event.kind == "batch" and event.step == at_step:
            action()
            control.stop()
    return events


def test_a_moved_project_takes_its_running_run_along(digits, tmp_path):
    old, new = tmp_path / "project", tmp_path / "renamed"
    old.mkdir()
    events = _train_and(old, digits, 5, lambda: old.rename(new))
    finished = events[-1]
    assert finished.status == "stopped", finished.message
    run = new / "runs" / events[0].run_id
    assert finished.run_dir == str(run)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["steps"] == 5
    assert (run / "checkpoints" / "last.safetensors").is_file() and not (run / ".lock").exists()
    assert not old.exists()  # never re-created


def test_a_deleted_project_folder_ends_the_run_with_one_message(digits, tmp_path):
    old = tmp_path / "project"
    old.mkdir()
    events = _train_and(old, digits, 5, lambda: shutil.rmtree(old))
    finished = events[-1]
    assert finished.status == "failed" and "deleted or moved out of reach" in finished.message
    assert "\n" not in finished.message
    assert not old.exists()


def test_followed_folder_reports_moves_and_deletion(tmp_path):
    folder = tmp_path / "a"
    folder.mkdir()
    followed = FollowedFolder(folder)
    assert followed.current() == folder and followed.moved() is None
    folder.rename(tmp_path / "b")
    assert followed.current() == tmp_path / "b" and followed.moved() == tmp_path / "b"
    shutil.rmtree(tmp_path / "b")
    try:
        followed.current()
    except FolderVanished as exc:
        assert str(folder) in str(exc)
    else:
        raise AssertionError("a deleted folder must raise FolderVanished")
