"""A trainer that does not answer, as the user meets it in the Training panel: SIGSTOP mid-run shows "The trainer
is not responding" with Wait / End it (a run of normal steps and checkpoint writes never does); Wait asks again
later; the banner goes when the process continues; End it kills the process and the run ends as interrupted,
resumable from its last checkpoint. SIGTERM to the trainer process is a Stop: the run ends as stopped with its
checkpoint, and a fresh trainer process starts. The window's StopReport says whether the close saved."""

from __future__ import annotations

import json
import os
import signal

import pytest
from PySide6.QtWidgets import QPushButton

from workbench.core.paths import SAMPLE_PROJECT
from workbench.core.training.checkpoints import checkpoint_step, load_checkpoint
from workbench.core.training.runs import LOCK, list_runs
from workbench.ui import jobs
from workbench.ui.panels.training import TrainingPanel
from workbench.ui.session import ProjectSession

MLP = [
    {"type": "Flatten"},
    {"type": "Linear", "out_features": 32},
    {"type": "ReLU"},
    {"type": "Linear", "out_features": 10},
]


@pytest.fixture
def panel(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "NOT_RESPONDING_S", 2.0)  # (6 s in use)
    monkeypatch.setattr(jobs, "WAIT_LONGER_S", 1.0)
    path = tmp_path / "digits.wbproj"
    doc = json.loads(SAMPLE_PROJECT.read_text())
    doc["model"]["layers"] = MLP
    doc["training"].update({"epochs": 500, "batch_size": 32, "device": "cpu"})
    path.write_text(json.dumps(doc))
    session = ProjectSession()
    widget = TrainingPanel(session)
    qtbot.addWidget(widget)
    session.open(path)
    widget.resize(900, 620)
    widget.show()
    yield widget
    pid = session.jobs.host.pid
    if pid is not None:
        os.kill(pid, signal.SIGCONT)
    widget.shutdown()
    session.jobs.shutdown()


def start_and_wait_for_a_checkpoint(qtbot, panel):
    panel.start()
    qtbot.waitUntil(lambda: panel.run_path is not None, timeout=120_000)
    qtbot.waitUntil(lambda: checkpoint_step(panel.run_path) is not None, timeout=60_000)


@pytest.mark.slow
def test_a_stopped_trainer_is_reported_wait_then_end_it_leaves_the_run_resumable(qtbot, panel):
    banner = panel.not_responding
    start_and_wait_for_a_checkpoint(qtbot, panel)
    qtbot.wait(3000)  # steps and checkpoint writes for longer than the limit: never reported
    assert not banner.isVisible() and panel.state == "running"
    host = panel.session.jobs.host
    stopped = host.pid
    os.kill(stopped, signal.SIGSTOP)
    qtbot.waitUntil(banner.isVisible, timeout=10_000)
    assert (
        "The trainer is not responding" in banner.label.text() and "no answer for 2 s" in banner.label.text()
    )
    banner.findChild(QPushButton, "trainerWaitButton").click()
    assert not banner.isVisible()
    qtbot.waitUntil(banner.isVisible, timeout=5_000)  # still silent: asked again
    os.kill(stopped, signal.SIGCONT)
    qtbot.waitUntil(lambda: not banner.isVisible(), timeout=5_000)  # it answers again: the banner goes
    step = panel.job.last_step
    qtbot.waitUntil(lambda: panel.job.last_step > step, timeout=10_000)  # and the run goes on

    os.kill(stopped, signal.SIGSTOP)
    qtbot.waitUntil(banner.isVisible, timeout=10_000)
    banner.findChild(QPushButton, "trainerEndButton").click()
    qtbot.waitUntil(lambda: not panel.running, timeout=10_000)
    message = panel.error_box.message.text()
    assert "not responding and was ended at step" in message and "resumed from its last checkpoint" in message
    (run,) = list_runs(panel.session.runs_dir)
    assert run.status == "interrupted" and load_checkpoint(run.checkpoint("last")).build_model() is not None
    assert panel.start_button.isEnabled() and not banner.isVisible()
    qtbot.waitUntil(lambda: host.ready and host.pid != stopped, timeout=120_000)  # a fresh trainer process


@pytest.mark.slow
def test_sigterm_to_the_trainer_process_stops_the_run_with_its_checkpoint(qtbot, panel):
    start_and_wait_for_a_checkpoint(qtbot, panel)
    host = panel.session.jobs.host
    first = host.pid
    os.kill(first, signal.SIGTERM)
    qtbot.waitUntil(lambda: not panel.running, timeout=60_000)
    assert panel.last_finished.status == "stopped" and not panel.error_box.isVisible()
    (run,) = list_runs(panel.session.runs_dir)
    assert run.status == "stopped" and not (run.path / LOCK).exists()
    assert checkpoint_step(run.path) == run.summary["steps"] == panel.last_finished.steps
    qtbot.waitUntil(lambda: host.ready and host.pid != first, timeout=120_000)


@pytest.mark.slow
def test_closing_mid_run_reports_the_checkpoint_it_wrote(qtbot, panel):
    start_and_wait_for_a_checkpoint(qtbot, panel)
    report = panel.session.jobs.shutdown(5.0)
    assert report.saved and report.run_dir == panel.run_path
    summary = json.loads((panel.run_path / "summary.json").read_text())
    assert summary["status"] == "stopped" and report.checkpoint_step == summary["steps"]
    assert report.line() == f"Stopped at step {summary['steps']:,}: the checkpoint and summary are saved."


@pytest.mark.slow
def test_closing_when_the_step_cannot_end_in_time_says_so_and_names_the_last_checkpoint(qtbot, panel):
    start_and_wait_for_a_checkpoint(qtbot, panel)
    os.kill(panel.session.jobs.host.pid, signal.SIGSTOP)  # a step that outlasts the grace
    qtbot.wait(300)
    saved_at = checkpoint_step(panel.run_path)
    report = panel.session.jobs.shutdown(1.5)
    assert not report.saved and report.checkpoint_step == saved_at is not None
    assert report.line() == (
        f"The step could not be interrupted within 1.5 s: no checkpoint since step {saved_at:,} "
        "(the run resumes from there)."
    )
    assert not (panel.run_path / "summary.json").exists()  # nothing claims the run stopped cleanly


@pytest.mark.slow
def test_a_trainer_stopped_during_start_up_is_reported_and_end_it_starts_a_fresh_one(
    qtbot, panel, monkeypatch
):
    monkeypatch.setattr(jobs, "PROCESSES", jobs.ProcessSupply())  # a process that is really starting
    host, banner = panel.session.jobs.host, panel.not_responding
    host.ensure_started()
    qtbot.waitUntil(lambda: host.heard_any, timeout=30_000)  # its first heartbeat: Python is up
    stopped = host.pid
    os.kill(stopped, signal.SIGSTOP)  # while it imports torch
    panel.start_button.click()
    assert panel.state_label.text() == "Starting PyTorch…"
    qtbot.waitUntil(banner.isVisible, timeout=15_000)
    assert not host.ready and "The trainer is not responding" in banner.label.text()
    banner.findChild(QPushButton, "trainerEndButton").click()
    qtbot.waitUntil(lambda: not panel.running, timeout=10_000)
    assert "the trainer process was not responding and was ended" in panel.error_box.message.text()
    qtbot.waitUntil(lambda: host.ready and host.pid != stopped, timeout=120_000)
    assert host.failure is None and host.failed_starts == 0  # ended by the user: not a failed start
