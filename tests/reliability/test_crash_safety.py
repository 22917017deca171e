"""Crash safety: a trainer process is SIGKILLed in the middle of writing a checkpoint (half its bytes on disk)
and of a metrics line. Afterwards the previous checkpoint is intact and loadable, metrics.jsonl reads up to
its last complete line, the run is listed as interrupted (by the runs API and in the GUI), and it resumes.

The child is `workbench train` with two hooks (a wrapper script in tmp_path): safetensors' save_file writes
half of the third `last` checkpoint to its temp file and blocks; the first metrics line after epoch 3's waits for
that, then is written halfway and blocks (so the kill lands after exactly 3 complete epoch lines). Then the child
says READY and the test kills it with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from reliability_helpers import MLP, write_project

from workbench.core.training.runs import Run, list_runs, read_metrics_lines

CHILD = textwrap.dedent("""
    import json, os, sys, threading, time
    from pathlib import Path

    import safetensors.torch as st
    from workbench.core.training.runs import RunWriter

    real_save_file, real_write = st.save_file, RunWriter.write
    mid_checkpoint, mid_line = threading.Event(), threading.Event()
    seen = {"last": 0}

    def save_file(tensors, filename, metadata=None):
        if Path(filename).name.startswith(".last.safetensors."):
            seen["last"] += 1
            if seen["last"] == 3:                      # epoch 3's checkpoint: half of it, then hang
                blob = st.save(tensors, metadata=metadata)
                with open(filename, "wb") as fh:
                    fh.write(blob[: len(blob) // 2])
                    fh.flush()
                    os.fsync(fh.fileno())
                mid_checkpoint.set()
                time.sleep(600)
        return real_save_file(tensors, filename, metadata=metadata)

    def write(self, line):
        if seen.get("epoch 3 written"):                # the line after epoch 3's: it waits for the checkpoint
            mid_checkpoint.wait(300)                   # (written on a background thread) to hang half-written,
            text = json.dumps(line)                    # then the trainer is mid-line when the kill comes
            self._metrics.write(text[: len(text) // 2])
            self._metrics.flush()
            mid_line.set()
            time.sleep(600)
        real_write(self, line)
        if line.get("kind") == "epoch" and line.get("epoch") == 3:
            seen["epoch 3 written"] = True

    real_stdout = os.fdopen(os.dup(1), "w")  # (the CLI sends descriptor 1 to stderr while a command runs)

    def announce():
        mid_checkpoint.wait(300)
        mid_line.wait(30)
        print("READY", file=real_stdout, flush=True)

    st.save_file, RunWriter.write = save_file, write
    threading.Thread(target=announce, daemon=True).start()
    from workbench.cli import main

    sys.exit(main(sys.argv[1:]))
""")


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """(project path, run folder) of a training run killed mid-checkpoint."""
    root = tmp_path_factory.mktemp("crash")
    project = write_project(
        root / "crash test.wbproj",
        model=MLP,
        training={"epochs": 50, "batch_size": 128, "device": "cpu", "lr": 0.01},
    )
    script = root / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    child = subprocess.Popen(
        [sys.executable, str(script), "train", str(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=root,
    )
    try:
        line = child.stdout.readline()  # blocks until READY (or the child ends)
        assert line.strip() == "READY", (
            f"child ended early (exit {child.poll()}): {child.stderr.read()[-2000:]}"
        )
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    (run,) = list_runs(project.parent / "runs")
    return project, run.path


def test_the_kill_landed_mid_checkpoint_and_mid_line(killed_run):
    _, run_dir = killed_run
    temps = [p for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".last.safetensors.")]
    assert len(temps) == 1 and temps[0].stat().st_size > 0  # the half-written temp file
    raw = (run_dir / "metrics.jsonl").read_bytes()
    assert not raw.endswith(b"\n")
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw.rsplit(b"\n", 1)[-1])


def test_previous_checkpoint_is_intact_and_loadable(killed_run):
    import torch

    from workbench.core.data import DatasetSettings, load_dataset
    from workbench.core.model.build import build_model
    from workbench.core.training.checkpoints import load_checkpoint, load_state_strict, load_training_state

    _, run_dir = killed_run
    checkpoint = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    assert checkpoint.meta["epoch"] == 2 and checkpoint.meta["epoch_complete"] is True
    model = build_model(checkpoint.spec, load_weights=False)
    load_state_strict(model, checkpoint.state_dict, checkpoint.path)
    model.eval()
    test = load_dataset(DatasetSettings()).test
    with torch.no_grad():
        accuracy = (model(test.x).argmax(1) == test.y).float().mean().item()
    assert accuracy > 0.8, accuracy  # trained weights, not noise
    best = load_checkpoint(run_dir / "checkpoints" / "best.safetensors")
    assert best.build_model() is not None
    optimizer_state, _ = load_training_state(run_dir / "checkpoints" / "last.optim.safetensors")
    assert optimizer_state["param_groups"]


def test_metrics_read_up_to_the_last_complete_line(killed_run):
    _, run_dir = killed_run
    text = (run_dir / "metrics.jsonl").read_text(encoding="utf-8")
    complete = text.split("\n")[:-1]
    lines = read_metrics_lines(run_dir / "metrics.jsonl")
    assert lines == [json.loads(line) for line in complete]
    steps = [line["step"] for line in lines if line["kind"] == "batch"]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 2 * 10
    metrics = Run(run_dir).metrics()
    assert [e["epoch"] for e in metrics.epochs][:2] == [1, 2] and len(metrics.loss) == len(steps)


def test_run_is_listed_as_interrupted_and_resumes(killed_run, tmp_path):
    import shutil

    from workbench.core.project import load_project
    from workbench.core.training.loop import train

    project_path, run_dir = killed_run
    run = Run(run_dir)
    assert run.summary is None and run.status == "interrupted"
    copy = tmp_path / "copy"  # the module's killed run stays interrupted for the tests after this one
    shutil.copytree(project_path.parent, copy)
    project_path, run_dir = copy / project_path.name, copy / "runs" / run_dir.name
    project = load_project(project_path)
    project.training.epochs = 3
    resumed = copy / "runs" / "resumed"
    events = list(train(project, resume_from=run_dir, run_dir=resumed, project_path=project_path))
    finished = events[-1]
    assert finished.status == "completed" and finished.epochs_completed == 3
    started = next(e for e in events if e.kind == "started")
    assert started.first_epoch == 3  # it went on from the intact epoch-2 checkpoint
    assert Run(run_dir).status == "resumed"  # the parent links to the run that went on


def test_gui_reopens_the_project_and_shows_the_run_interrupted(killed_run, qtbot):
    from workbench.ui.main_window import MainWindow

    project_path, run_dir = killed_run
    window = MainWindow()
    qtbot.addWidget(window)
    try:
        assert window.open_project(project_path, confirmed=True)
        runs = window.panels["trainingDock"].runs
        runs.reload()
        model = runs.model  # the Runs table: one RunRow per row
        shown = {
            title: [model.index(r, c).data() for r in range(model.rowCount())]
            for c, (_, title) in enumerate(model.columns)
        }
        assert [row.path for row in runs.rows()] == [run_dir] and shown["Status"] == ["interrupted"]
        assert shown["Epochs"] == ["3/50"]  # epochs with a complete line in metrics.jsonl, of those planned
        assert float(shown["Best val acc"][0]) > 0.8  # best val accuracy so far, read from those lines
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            qtbot.wait(20)
    finally:
        window.shutdown()


def test_the_killed_writes_temp_file_goes_at_listing_once_stale_and_at_the_next_start(killed_run):
    from workbench.core.training.checkpoints import clean_before_run
    from workbench.core.training.run_index import RunIndex

    project_path, run_dir = killed_run
    (temp,) = [p for p in (run_dir / "checkpoints").iterdir() if p.name.endswith(".tmp")]
    RunIndex(project_path.parent / "runs").rows()
    assert temp.exists()  # fresh: listing leaves it (a slow writer could still be at it)
    old = time.time() - 120
    os.utime(temp, (old, old))
    RunIndex(project_path.parent / "runs").rows()
    assert not temp.exists()  # stale and no process writes the run: gone
    temp.write_bytes(b"x" * 1000)  # another one, fresh: the next resume of the run removes it at once
    clean_before_run(project_path.parent / "runs", run_dir / "checkpoints" / "last.safetensors")
    assert not temp.exists() and (run_dir / "checkpoints" / "last.safetensors").is_file()
