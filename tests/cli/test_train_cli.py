"""`workbench train` end to end: a run folder beside the project, JSON lines, plain lines, exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from workbench.cli import main
from workbench.core.paths import SAMPLE_PROJECT
from workbench.core.training.runs import list_runs


@pytest.fixture
def project(tmp_path):
    path = tmp_path / "digits.wbproj"
    shutil.copy(SAMPLE_PROJECT, path)
    return path


def test_train_json_lines_writes_the_run_folder(project, capsys):
    assert (
        main(
            ["train", str(project), "--epochs", "2", "--batch-size", "128", "--device", "cpu", "--json-lines"]
        )
        == 0
    )
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    assert kinds.count("epoch") == 2 and kinds.count("batch") == 2 * events[0]["batches_per_epoch"]
    assert events[-1]["status"] == "completed"
    runs = list_runs(project.parent / "runs")
    assert len(runs) == 1 and runs[0].status == "completed"
    assert runs[0].config["training"]["batch_size"] == 128
    assert (runs[0].path / "checkpoints" / "best.safetensors").is_file()


def test_train_plain_lines_and_run_dir(project, tmp_path, capsys):
    run_dir = tmp_path / "my-run"
    assert main(["train", str(project), "--epochs", "1", "--run-dir", str(run_dir), "--name", "quick"]) == 0
    err = capsys.readouterr().err
    assert "epoch 1" in err and "val_acc" in err and "completed" in err and str(run_dir) in err
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    assert json.loads((run_dir / "config.json").read_text())["name"] == "quick"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--epochs", "0"], "epochs"),
        (["--device", "cuda:9"], "cuda:9"),
        (["--device", "tpu"], "unknown device"),
    ],
)
def test_bad_options_exit_2_with_one_line(project, capsys, args, message):
    assert main(["train", str(project), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (project.parent / "runs").exists() or not list_runs(project.parent / "runs")


def test_missing_project_exit_2(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.wbproj")]) == 2
    assert "not found" in capsys.readouterr().err


def test_diverging_run_exits_2_and_says_why(project, capsys):
    doc = json.loads(project.read_text())
    doc["model"]["layers"] = [
        {"type": "Flatten"},
        {"type": "Linear", "out_features": 64},
        {"type": "Linear", "out_features": 10},
    ]
    doc["training"].update({"optimizer": "sgd", "lr": 5.0, "momentum": 0.9})
    project.write_text(json.dumps(doc))
    assert main(["train", str(project), "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert "error: the loss became" in err and "lower the learning rate" in err
    assert list_runs(project.parent / "runs")[0].status == "failed"


@pytest.mark.slow
def test_resume_continues_a_run(project, capsys):
    assert main(["train", str(project), "--epochs", "1", "--json-lines"]) == 0
    first = list_runs(project.parent / "runs")[0]
    capsys.readouterr()
    assert main(["train", str(project), "--epochs", "2", "--resume", str(first.path), "--json-lines"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["first_epoch"] == 2 and events[0]["first_step"] > 1
    resumed = list_runs(project.parent / "runs")[1]
    assert resumed.metrics().steps == list(range(1, events[-1]["steps"] + 1))


@pytest.mark.slow
def test_python_dash_m_in_a_subprocess(project):
    out = subprocess.run(
        [sys.executable, "-m", "workbench", "train", str(project), "--epochs", "1", "--json-lines"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["status"] == "completed"


@pytest.mark.slow
def test_training_the_bundled_sample_trains_the_user_copy_and_writes_nothing_into_resources(
    tmp_path, monkeypatch, capsys
):
    from workbench.core.paths import RESOURCES

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    before = sorted(p.name for p in RESOURCES.rglob("*"))
    assert (
        main(["train", str(SAMPLE_PROJECT), "--epochs", "1", "--batch-size", "256", "--device", "cpu"]) == 0
    )
    assert "your copy of the bundled project" in capsys.readouterr().err
    assert sorted(p.name for p in RESOURCES.rglob("*")) == before  # no run folder, no autosave there
    runs = list_runs(tmp_path / "home" / "sample" / "runs")
    assert len(runs) == 1 and runs[0].status == "completed"
