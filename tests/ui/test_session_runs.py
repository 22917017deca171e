"""The session's runs folder: an unsaved project's own folder that moves beside the file on the first Save, a run
still training then follows once it ends, Save As re-roots, and the signal says so."""

from __future__ import annotations

import json
import os
import socket

import pytest

from workbench.core.project import Project
from workbench.core.training.runs import list_runs
from workbench.ui import session as session_module
from workbench.ui.session import ProjectSession


@pytest.fixture
def sessions():
    made = []

    def make():
        made.append(ProjectSession())
        return made[-1]

    yield make
    for session in made:
        session.jobs.shutdown()


def _run(root, name, live=False):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"training": {"epochs": 1}}))
    if live:
        (folder / ".lock").write_text(f"{os.getpid()}@{socket.gethostname()}\n")
    else:
        (folder / "summary.json").write_text(json.dumps({"status": "completed"}))
    return folder


def test_first_save_moves_finished_runs_and_a_live_one_when_it_ends(
    qtbot, tmp_path, monkeypatch, _isolated_home, sessions
):
    monkeypatch.setattr(session_module, "ADOPT_DELAY_MS", 0)
    session = sessions()
    session.new(Project(name="mine"))
    untitled = session.runs_dir
    assert str(untitled).startswith(str(_isolated_home)) and untitled.parent.parent.name == "untitled"
    other = sessions()
    other.new(Project())
    assert other.runs_dir != untitled  # every unsaved project has its own folder
    _run(untitled, "20250101-000000-000001")
    live = _run(untitled, "20250101-000000-000002", live=True)
    roots = []
    session.sig_runs_root_changed.connect(roots.append)
    session.save(tmp_path / "p" / "mine.wbproj")
    target = tmp_path / "p" / "runs"
    assert roots == [target] and session.runs_dir == target
    assert [r.id for r in list_runs(target)] == ["20250101-000000-000001"]
    assert [r.id for r in list_runs(untitled)] == ["20250101-000000-000002"]  # still training: stays
    (live / ".lock").unlink()
    (live / "summary.json").write_text(json.dumps({"status": "stopped"}))
    session.sig_runs_changed.emit()  # the run ended
    qtbot.waitUntil(lambda: len(list_runs(target)) == 2, timeout=5000)
    assert not untitled.parent.exists()


def test_save_as_keeps_the_name_and_copies_moves_or_leaves_the_runs(qtbot, tmp_path, sessions):
    session = sessions()
    session.new(Project(name="a"))
    session.save(tmp_path / "a" / "a.wbproj")
    _run(tmp_path / "a" / "runs", "20250101-000000-000001")
    roots = []
    session.sig_runs_root_changed.connect(roots.append)
    session.save(tmp_path / "b" / "b.wbproj")  # the default: copy
    assert roots == [tmp_path / "b" / "runs"] and session.project.name == "a"  # Save keeps the name
    assert len(list_runs(tmp_path / "a" / "runs")) == 1 and len(list_runs(session.runs_dir)) == 1
    session.save(tmp_path / "c" / "c.wbproj", runs="move")
    assert len(list_runs(tmp_path / "b" / "runs")) == 0 and len(list_runs(tmp_path / "c" / "runs")) == 1
    session.save(tmp_path / "d" / "d.wbproj", runs="leave")
    assert list_runs(session.runs_dir) == [] and len(list_runs(tmp_path / "c" / "runs")) == 1


def test_untitled_project_with_runs_is_unsaved_and_discard_deletes_it(qtbot, tmp_path, sessions):
    session = sessions()
    session.new(Project(name="mine"))
    assert not session.dirty
    dirty = []
    session.sig_dirty_changed.connect(dirty.append)
    _run(session.runs_dir, "20250101-000000-000001")
    session.sig_runs_changed.emit()  # a run was added
    assert session.dirty and dirty == [True] and session.unsaved_runs == 1
    folder = session.runs_dir.parent
    assert (folder / "project.wbproj.autosave").is_file()  # the document waits beside its runs
    session.discard()
    assert not folder.exists() and not session.dirty
