"""One placement rule: JobRunner.job(kind, name) makes the job its JobDef says (trainer process, a thread here, or
the GUI thread), with the same signals whichever it is."""

from __future__ import annotations

import pytest

from workbench.core.jobs import JOBS, ErrorKind, JobDef, Placement, register_job
from workbench.ui.jobs import GuiJob, JobRunner, ProcessJob, ThreadJob


@pytest.fixture
def runner(qtbot, monkeypatch):
    monkeypatch.setattr("workbench.core.jobs.JOBS", dict(JOBS))  # the test's jobs leave with it
    runner = JobRunner()
    yield runner
    runner.shutdown()


@pytest.mark.parametrize(("placement", "cls"), [(Placement.THREAD, ThreadJob), (Placement.GUI, GuiJob)])
def test_a_job_runs_where_its_definition_says_with_the_same_signals(runner, qtbot, placement, cls):
    register_job("steps", JobDef("trainer_test_jobs:sleep_job", placement=placement))
    register_job("fails", JobDef("trainer_test_jobs:failing_job", placement=placement))
    job = runner.job("test", "steps", seconds=0.0, steps=3)
    assert type(job) is cls
    events, finished = [], []
    job.sig_events.connect(events.extend)
    job.sig_finished.connect(finished.append)
    with qtbot.waitSignal(job.sig_done, timeout=5000) as done:
        runner.start(job)
    assert events == [0, 1, 2] and done.args == [None] and finished == [None]
    failing = runner.job("test", "fails", error="user")
    with qtbot.waitSignal(failing.sig_done, timeout=5000) as done:
        runner.start(failing)
    assert done.args[0].kind is ErrorKind.BAD_INPUT and done.args[0].message == "fix the thing"


def test_the_built_in_jobs_run_in_the_trainer_process(runner):
    assert type(runner.job("analysis", "analyse", spec={})) is ProcessJob
