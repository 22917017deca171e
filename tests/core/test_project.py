import json

import pytest

from workbench.core.errors import UserError
from workbench.core.paths import SAMPLE_PROJECT
from workbench.core.project import FORMAT_VERSION, Project, load_project, migrate, save_project


def test_sample_project_loads():
    project = load_project(SAMPLE_PROJECT)
    assert project.dataset.kind == "digits"
    assert project.model.input_shape == [1, 8, 8]
    assert project.model.layers[-1].params["out_features"] == 10


def test_save_load_round_trip_is_identical(tmp_path):
    project = load_project(SAMPLE_PROJECT)
    project.name = "Round trip ü"
    project.training.lr = 0.0123
    path = save_project(project, tmp_path / "a b" / "p.wbproj")
    again = load_project(path)
    assert again == project
    save_project(again, tmp_path / "q.wbproj")
    assert (tmp_path / "q.wbproj").read_text() == path.read_text()


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"name": "x"}', "format_version"),
        ('{"format_version": 99}', "newer than this Workbench"),
        ('{"format_version": 1, "training": {"epochs": -3}}', "training.epochs"),
        ('{"format_version": 1, "dataset": {"split": {"train": 0.9, "val": 0.5, "test": 0}}}', "add up to 1"),
        ('{"format_version": 1, "evil": "__import__(\'os\')"}', "evil"),
    ],
)
def test_bad_project_is_refused_and_left_unchanged(tmp_path, content, message):
    path = tmp_path / "bad.wbproj"
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        load_project(path)
    assert path.read_text() == content


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "img.wbproj"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    with pytest.raises(UserError, match="not a text"):
        load_project(path)


def test_migration_hook_runs_in_order(monkeypatch):
    from workbench.core import project as module

    monkeypatch.setattr(module, "FORMAT_VERSION", 3)
    monkeypatch.setattr(
        module,
        "MIGRATIONS",
        {
            1: lambda d: {**d, "format_version": 2, "steps": ["1->2"]},
            2: lambda d: {**d, "format_version": 3, "steps": d["steps"] + ["2->3"]},
        },
    )
    assert migrate({"format_version": 1})["steps"] == ["1->2", "2->3"]


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = save_project(Project(name="old"), tmp_path / "p.wbproj")
    before = path.read_text()

    def broken_dumps(*args, **kwargs):
        raise OSError(28, "No space left on device")

    import os

    monkeypatch.setattr(os, "fsync", broken_dumps)
    with pytest.raises(UserError, match="No space left"):
        save_project(Project(name="new"), path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.wbproj"]  # no temp file left behind


def test_saved_project_is_plain_json(tmp_path):
    path = save_project(load_project(SAMPLE_PROJECT), tmp_path / "p.wbproj")
    doc = json.loads(path.read_text())
    assert doc["format_version"] == FORMAT_VERSION
    assert set(doc) == {"format_version", "name", "dataset", "model", "training", "export"}
