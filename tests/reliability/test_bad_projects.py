"""Bad-input corpus, project files and training settings: `workbench train` / `model check` / `project script`
answer a broken project or setting with one `error:` line (exit 2) before anything is written; the project
file and every earlier run stay byte for byte as they were. Saving into a read-only folder or onto a full
disk fails with a clear message and leaves the previous file intact."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from reliability_helpers import (
    assert_cli_error,
    assert_unchanged,
    disk_state,
    refused_writes,
    run_cli,
)

from workbench.core.errors import UserError
from workbench.core.project import load_project, save_project
from workbench.core.training.runs import list_runs

CODE = "__import__('os').system('touch PWNED')"


def _doc(project: Path) -> dict:
    return json.loads(project.read_text(encoding="utf-8"))


CORRUPTIONS = {
    "truncated": (lambda text, doc: text[: len(text) // 2].encode(), ["not valid JSON"]),
    "binary garbage": (lambda text, doc: os.urandom(512) + b"\xff\xfe", ["not a text (UTF-8 JSON) file"]),
    "empty": (lambda text, doc: b"", ["is empty"]),
    "a JSON list": (lambda text, doc: b"[]", ["must be a JSON object", "not list"]),
    "future version": (
        lambda text, doc: json.dumps({**doc, "format_version": 7}).encode(),
        ["format_version 7", "update Workbench"],
    ),
    "no format_version": (
        lambda text, doc: json.dumps({k: v for k, v in doc.items() if k != "format_version"}).encode(),
        ["no integer format_version"],
    ),
    "format_version true": (
        lambda text, doc: json.dumps({**doc, "format_version": True}).encode(),
        ["no integer format_version"],
    ),
    "wrong types": (
        lambda text, doc: json.dumps({**doc, "training": {**doc["training"], "epochs": "ten"}}).encode(),
        ["training.epochs", "valid integer"],
    ),
    "extra key with code": (
        lambda text, doc: json.dumps({**doc, "on_load": CODE}).encode(),
        ["on_load", "extra inputs are not permitted"],
    ),
    "unknown optimizer": (
        lambda text, doc: json.dumps(
            {**doc, "training": {**doc["training"], "optimizer": "sgd; " + CODE}}
        ).encode(),
        ["training.optimizer"],
    ),
    "splits over 100%": (
        lambda text, doc: json.dumps(
            {**doc, "dataset": {**doc["dataset"], "split": {"train": 0.8, "val": 0.3, "test": 0.1}}}
        ).encode(),
        ["add up to 1"],
    ),
    "model section a string": (lambda text, doc: json.dumps({**doc, "model": CODE}).encode(), ["model"]),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
@pytest.mark.parametrize("command", [["train", "{p}"], ["model", "check", "{p}"]])
def test_corrupt_project_is_one_error_line_and_nothing_changes(name, command, project_copy, capsys):
    make, fragments = CORRUPTIONS[name]
    project_copy.write_bytes(make(project_copy.read_text(encoding="utf-8"), _doc(project_copy)))
    argv = [a.format(p=project_copy) for a in command]
    assert_cli_error(argv, capsys, fragments, [project_copy.parent])
    assert not (Path.cwd() / "PWNED").exists() and not (project_copy.parent / "PWNED").exists()


def test_code_in_dataset_options_is_a_bad_value_not_code(project_copy, capsys):
    doc = _doc(project_copy)
    doc["dataset"]["options"] = {"resize": CODE}
    project_copy.write_text(json.dumps(doc), encoding="utf-8")
    assert_cli_error(["train", project_copy], capsys, ["resize", "is not a size"], [project_copy.parent])
    assert not (Path.cwd() / "PWNED").exists()


@pytest.mark.parametrize("target", ["missing", "folder"])
def test_project_path_that_is_not_a_file(target, tmp_path, capsys):
    path = tmp_path / "p.wbproj"
    if target == "folder":
        path.mkdir()
    assert_cli_error(
        ["train", path], capsys, ["not found" if target == "missing" else "is a folder"], [tmp_path]
    )


def test_project_script_of_a_corrupt_project(project_copy, capsys):
    project_copy.write_bytes(b'{"format_version": 1, "name": ')
    out = project_copy.parent / "train.py"
    assert_cli_error(
        ["project", "script", project_copy, "-o", out], capsys, ["not valid JSON"], [project_copy.parent]
    )


# -- training settings
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--epochs", "0"], ["epochs", "greater than or equal to 1"]),
        (["--epochs", "-3"], ["epochs"]),
        (["--lr", "-0.1"], ["lr", "greater than 0"]),
        (["--lr", "nan"], ["lr", "finite number"]),
        (["--lr", "inf"], ["lr", "finite number"]),
        (["--batch-size", "0"], ["batch_size"]),
        (["--epochs", "many"], ["--epochs", "invalid int value"]),
        (["--device", "tpu:0"], ["unknown device 'tpu:0'"]),
        (["--resume", "{root}/no-such-run"], ["not found"]),
    ],
)
def test_bad_training_option(args, fragments, project_copy, capsys):
    argv = ["train", project_copy, *[a.format(root=project_copy.parent) for a in args]]
    assert_cli_error(argv, capsys, fragments, [project_copy.parent])


def test_cuda_without_a_gpu(project_copy, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert_cli_error(
        ["train", project_copy, "--device", "cuda"],
        capsys,
        ["no CUDA GPU", "--device cpu"],
        [project_copy.parent],
    )


def test_run_dir_that_is_not_empty(project_copy, capsys):
    (run,) = list_runs(project_copy.parent / "runs")
    assert_cli_error(
        ["train", project_copy, "--run-dir", run.path],
        capsys,
        ["already exists and is not empty"],
        [project_copy.parent],
    )


def test_resume_from_a_truncated_checkpoint(project_copy, capsys):
    (run,) = list_runs(project_copy.parent / "runs")
    last = run.path / "checkpoints" / "last.safetensors"
    last.write_bytes(last.read_bytes()[:100])
    assert_cli_error(
        ["train", project_copy, "--epochs", "3", "--resume", run.path],
        capsys,
        ["not a readable safetensors checkpoint"],
        [project_copy.parent],
    )


def test_dataset_that_moved_away(project_copy, tmp_path, capsys):
    doc = _doc(project_copy)
    doc["dataset"] = {"kind": "csv", "source": str(tmp_path / "gone" / "data.csv")}
    project_copy.write_text(json.dumps(doc), encoding="utf-8")
    assert_cli_error(["train", project_copy], capsys, ["does not exist on this machine"], [tmp_path])


def test_batch_size_larger_than_the_data_trains_and_says_so(project_copy, capsys):
    (earlier,) = list_runs(project_copy.parent / "runs")
    before = disk_state(project_copy, earlier.path)
    code, out, err = run_cli(["train", project_copy, "--batch-size", "100000", "--epochs", "1"], capsys)
    assert code == 0, err
    assert "note: batch size 100000 is larger than the" in err and "1 batches/epoch" in err
    assert_unchanged(before, disk_state(project_copy, earlier.path))
    assert [r.status for r in list_runs(project_copy.parent / "runs")] == ["completed", "completed"]


def test_nan_producing_learning_rate_fails_the_run_not_the_app(project_copy, capsys):
    doc = _doc(project_copy)
    doc["model"]["layers"] = [
        {"type": "Flatten"},
        {"type": "Linear", "out_features": 64},
        {"type": "Linear", "out_features": 10},
    ]
    doc["training"].update({"optimizer": "sgd", "lr": 5.0, "momentum": 0.9, "epochs": 2})
    project_copy.write_text(json.dumps(doc), encoding="utf-8")
    (earlier,) = list_runs(project_copy.parent / "runs")
    before = disk_state(project_copy, earlier.path)
    code, out, err = run_cli(["train", project_copy], capsys)
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: the loss became")
    assert "lower the learning rate" in err
    assert_unchanged(before, disk_state(project_copy, earlier.path))
    statuses = {r.id: r.status for r in list_runs(project_copy.parent / "runs")}
    assert statuses.pop(earlier.id) == "completed" and list(statuses.values()) == ["failed"]


def test_full_disk_while_writing_a_checkpoint(tiny_disk, project_copy, capsys):
    """A real full filesystem (a tiny tmpfs): the run fails with a clear message; the project and the earlier
    run are untouched; no half-written checkpoint or temp file is left in the run folder."""
    doc = _doc(project_copy)
    doc["model"]["layers"] = [
        {"type": "Flatten"},
        {"type": "Linear", "out_features": 512},
        {"type": "ReLU"},
        {"type": "Linear", "out_features": 10},
    ]  # a ~150 KB checkpoint
    doc["training"]["epochs"] = 1
    project_copy.write_text(json.dumps(doc), encoding="utf-8")
    tiny_disk.fill(leave=48 * 1024)
    before = disk_state(project_copy.parent)
    run_dir = tiny_disk.path / "run"
    code, out, err = run_cli(["train", project_copy, "--run-dir", run_dir], capsys)
    assert code == 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "No space left on device" in last and "free some disk space" in last
    assert_unchanged(before, disk_state(project_copy.parent))
    leftovers = [p.name for p in (run_dir / "checkpoints").iterdir()]
    assert not [n for n in leftovers if n.endswith(".tmp")], leftovers
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "failed"


# -- saving
# ---------------------------------------------------------------------------------------------------------
def test_save_into_a_read_only_folder(project_copy, monkeypatch):
    project = load_project(project_copy)
    project.name = "changed"
    before = disk_state(project_copy.parent)
    with refused_writes(project_copy.parent, monkeypatch), pytest.raises(UserError) as info:
        save_project(project, project_copy)
    assert "cannot write" in str(info.value) and "Permission denied" in str(info.value)
    assert_unchanged(before, disk_state(project_copy.parent))
    assert load_project(project_copy).name == "Digits (sample)"


def test_save_on_a_full_disk_patched_write(project_copy, monkeypatch):
    """Where no tmpfs can be mounted: fsync (every atomic write calls it) fails with ENOSPC."""
    project = load_project(project_copy)
    project.name = "changed"
    before = disk_state(project_copy.parent)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(UserError, match="No space left on device.*free some disk space"):
        save_project(project, project_copy)
    monkeypatch.undo()
    assert_unchanged(before, disk_state(project_copy.parent))


def test_save_on_a_real_full_disk(tiny_disk, project_copy):
    target = tiny_disk.path / "p.wbproj"
    project = load_project(project_copy)
    save_project(project, target)
    original = target.read_bytes()
    project.name = "x" * 4096
    project.model.layers = project.model.layers * 20  # far bigger than what is left
    tiny_disk.fill(leave=1024)
    with pytest.raises(UserError, match="No space left on device"):
        save_project(project, target)
    assert target.read_bytes() == original
    assert sorted(p.name for p in tiny_disk.path.iterdir()) == [".filler", "p.wbproj"]
