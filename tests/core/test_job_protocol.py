"""The trainer process's side of the job protocol, in this process over a real pipe (no torch, no spawn):
events then exactly one Done per job, errors as kinds, exclusive jobs alone, a waiting job cancelled by id."""

from __future__ import annotations

import time
from multiprocessing import Pipe

import pytest

from workbench.core.jobs import (
    JOBS,
    Action,
    Control,
    Done,
    ErrorKind,
    Events,
    JobDef,
    JobError,
    Submit,
    register_job,
)
from workbench.core.trainer_process import Child

SLEEP = "trainer_test_jobs:sleep_job"  # tests/ is on sys.path (pytest's rootdir conftest)
FAIL = "trainer_test_jobs:failing_job"


@pytest.fixture
def child():
    receive, send = Pipe(duplex=False)
    child = Child(None, send)
    yield child, receive
    receive.close()


def submit(child, *submits):
    with child.lock:
        child.waiting.extend(submits)
    child._start_waiting()


def collect(receive, jobs: int, timeout: float = 10.0) -> tuple[dict, dict, dict]:
    """{job_id: events}, {job_id: Done}, {job_id: seconds until Done}"""
    events: dict = {}
    done: dict = {}
    at: dict = {}
    start = time.monotonic()
    while len(done) < jobs:
        assert receive.poll(max(0.0, start + timeout - time.monotonic())), f"only {sorted(done)} ended"
        message = receive.recv()
        if isinstance(message, Events):
            assert message.job_id not in done  # nothing after Done
            events.setdefault(message.job_id, []).extend(message.events)
        elif isinstance(message, Done):
            assert message.job_id not in done  # Done once
            done[message.job_id], at[message.job_id] = message, time.monotonic() - start
    return events, done, at


def test_events_in_order_then_one_done(child):
    child, receive = child
    submit(child, Submit(1, "sleep", SLEEP, {"seconds": 0.01, "steps": 5}))
    events, done, _ = collect(receive, 1)
    assert events[1] == [0, 1, 2, 3, 4] and done[1].error is None


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("user", ErrorKind.BAD_INPUT),
        ("memory", ErrorKind.OUT_OF_MEMORY),
        ("cancelled", ErrorKind.CANCELLED),
        ("bug", ErrorKind.BUG),
    ],
)
def test_an_exception_becomes_its_kind(child, error, kind):
    child, receive = child
    submit(child, Submit(7, "fail", FAIL, {"error": error}))
    events, done, _ = collect(receive, 1)
    failure = done[7].error
    assert events[7] == [1] and isinstance(failure, JobError) and failure.kind is kind
    assert failure.user_error == (kind is ErrorKind.BAD_INPUT)
    if kind is ErrorKind.BAD_INPUT:
        assert failure.message == "fix the thing" and failure.details is None  # one line, no traceback
    if kind is ErrorKind.BUG:
        assert failure.message.startswith("KeyError") and "Traceback" in failure.details


def test_an_exclusive_job_runs_alone_and_others_do_not_wait_behind_it(child):
    child, receive = child
    submit(
        child,
        Submit(1, "sleep", SLEEP, {"seconds": 0.6}),
        Submit(2, "estimate", SLEEP, {"seconds": 0.2}, exclusive=True),
        Submit(3, "sleep", SLEEP, {"seconds": 0.2}),
    )
    _, done, at = collect(receive, 3)
    assert all(d.error is None for d in done.values())
    assert at[3] < at[1] <= at[2] - 0.15  # 3 ran beside 1; 2 started only once 1 had ended


def test_a_waiting_job_is_cancelled_by_its_id(child):
    child, receive = child
    submit(
        child,
        Submit(1, "estimate", SLEEP, {"seconds": 0.4}, exclusive=True),
        Submit(2, "sleep", SLEEP, {"seconds": 0.1}),
    )
    child._control(Control(2, Action.CANCEL))
    _, done, at = collect(receive, 2)
    assert done[2].error.kind is ErrorKind.CANCELLED and at[2] < at[1] and done[1].error is None


def test_the_job_table_names_importable_functions_and_refuses_a_second_name():
    for name, definition in JOBS.items():
        assert callable(definition.function()), name
    with pytest.raises(ValueError, match="already registered"):
        register_job("train", JobDef(SLEEP))
