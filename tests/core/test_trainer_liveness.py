"""The trainer process, for real (spawned, torch imported): it beats from start-up on and falls silent only when
stopped (SIGSTOP); SIGTERM / SIGINT stop a training run with its checkpoint and summary, then exit 128 + signal;
Exit reports whether the jobs stopped in time (a step longer than the grace: exit STOP_TIMED_OUT); a segfault's
details are the crashing thread's stack, not faulthandler's module list."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.core.jobs import Done, Events, Heartbeat, Ready, Submit
from workbench.core.trainer_process import TrainerProcess, crash_details

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def process(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(TESTS))  # the trainer process imports tests/trainer_test_jobs.py
    process = TrainerProcess()
    yield process
    if process.alive():
        os.kill(process.pid, signal.SIGCONT)
        process.kill()
    process.dispose()


def receive_until(process, wanted, timeout: float = 120.0) -> list:
    """Messages until one is an instance of `wanted` (that one included)."""
    got, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = process.receive(0.2)
        if message is not None:
            got.append(message)
            if isinstance(message, wanted):
                return got
    raise AssertionError(f"no {wanted} within {timeout} s; got {[type(m).__name__ for m in got][-5:]}")


def silence(process, seconds: float) -> float:
    """The longest gap between two messages over `seconds`."""
    last = start = time.monotonic()
    longest = 0.0
    while time.monotonic() - start < seconds:
        if process.receive(0.05) is not None:
            now = time.monotonic()
            longest, last = max(longest, now - last), now
    return max(longest, time.monotonic() - last)


@pytest.mark.slow
def test_it_beats_during_start_up_and_is_silent_only_while_stopped(process):
    first = receive_until(process, Heartbeat, timeout=30)
    assert not any(isinstance(m, Ready) for m in first)  # it beats before torch is imported
    receive_until(process, Ready)
    assert silence(process, 2.0) < 1.5  # heartbeats every 0.5 s while idle
    os.kill(process.pid, signal.SIGSTOP)
    time.sleep(0.3)
    while process.receive(0) is not None:  # what it sent before the stop
        pass
    assert process.receive(2.0) is None  # a stopped process says nothing
    os.kill(process.pid, signal.SIGCONT)
    receive_until(process, Heartbeat, timeout=5)  # and beats again once continued


def train_submit(project: Path, runs: Path) -> Submit:
    from workbench.core.project import load_project

    doc = load_project(project)
    doc.training.epochs = 200
    return Submit(
        1,
        "train",
        "workbench.core.trainer_process:train_job",
        {"project": doc.model_dump(mode="json"), "runs_root": str(runs), "project_path": str(project)},
    )


def events_until_steps(process, steps: int) -> list:
    seen = []
    while True:
        message = receive_until(process, Events)[-1]
        seen.extend(message.events)
        # batch events cross the pipe packed, column by column (BatchEnds)
        if any(
            getattr(e, "kind", "") == "batches" and e.columns["step"][-1] >= steps for e in message.events
        ):
            return seen


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_trainer_process_stops_the_run_with_checkpoint_and_summary(process, tmp_path, signum):
    from workbench.core.paths import sample_project
    from workbench.core.training.checkpoints import load_checkpoint
    from workbench.core.training.runs import LOCK, list_runs

    receive_until(process, Ready)
    process.send(train_submit(sample_project(), tmp_path / "runs"))
    events_until_steps(process, 3)
    os.kill(process.pid, signum)
    messages = receive_until(process, Done, timeout=60)
    finished = [
        e for m in messages if isinstance(m, Events) for e in m.events if getattr(e, "kind", "") == "finished"
    ]
    assert messages[-1].error is None and finished and finished[0].status == "stopped"
    assert process.wait_ended(30) and process.popen.returncode == 128 + signum
    (run,) = list_runs(tmp_path / "runs")
    assert run.summary["status"] == "stopped" and not (run.path / LOCK).exists()
    checkpoint = load_checkpoint(run.path / "checkpoints" / "last.safetensors")
    assert checkpoint.meta["step"] == finished[0].steps >= 3 and checkpoint.build_model() is not None
    assert "Traceback" not in process.stderr_text()


@pytest.mark.slow
def test_exit_says_whether_the_jobs_stopped_within_the_grace(process, tmp_path):
    receive_until(process, Ready)
    process.send(Submit(1, "sleep", "trainer_test_jobs:sleep_job", {"seconds": 5, "steps": 2}))
    time.sleep(0.5)
    started = time.monotonic()
    assert process.close(timeout=1.0) is False  # a 5 s step: not stopped in time, and said so
    assert time.monotonic() - started < 2.5


@pytest.mark.slow
def test_exit_in_time_stops_a_training_run_with_its_checkpoint_and_no_final_evaluation(process, tmp_path):
    from workbench.core.paths import sample_project
    from workbench.core.training.checkpoints import checkpoint_step
    from workbench.core.training.runs import list_runs

    receive_until(process, Ready)
    process.send(train_submit(sample_project(), tmp_path / "runs"))
    events_until_steps(process, 2)
    assert process.close(timeout=5.0) is True  # stopped between steps, saved, exited 0
    (run,) = list_runs(tmp_path / "runs")
    summary = run.summary
    assert summary["status"] == "stopped" and summary["test_accuracy"] is None  # no evaluation on the way out
    assert checkpoint_step(run.path) == summary["steps"] >= 2


@pytest.mark.slow
def test_a_segfault_shows_the_crashing_threads_stack(process):
    receive_until(process, Ready)
    process.send(Submit(1, "segv", "trainer_test_jobs:segfault_job", {}))
    with pytest.raises(EOFError):
        receive_until(process, Done, timeout=60)
    assert process.how_it_ended() == "signal 11 (SIGSEGV)"
    report = process.crash_report()
    assert report.startswith("Fatal Python error: Segmentation fault")
    first_block = report.split("\n\n")[1]
    assert first_block.startswith("Current thread ") and "in segfault_job" in first_block
    assert "Extension modules" not in report and "torch._C" not in report


def test_crash_details_of_a_child_that_segfaults_with_many_modules_loaded(tmp_path):
    code = (
        "import faulthandler, threading, time, json, numpy\n"
        "faulthandler.enable()\n"
        "def crash_here():\n"
        "    import ctypes; ctypes.string_at(0)\n"
        "threading.Thread(target=crash_here, name='wb-job-x').start()\n"
        "time.sleep(30)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGSEGV
    assert "Extension modules:" in result.stderr  # what the raw tail showed
    details = crash_details("some earlier output\n" + result.stderr)
    blocks = details.split("\n\n")
    assert blocks[0] == "Fatal Python error: Segmentation fault"
    assert blocks[1].startswith("Current thread ") and "in crash_here" in blocks[1]
    assert blocks[2].startswith("Thread ") and "in <module>" in blocks[2]  # the main thread, after
    assert "numpy" not in details and crash_details("no crash here\n") == ""
