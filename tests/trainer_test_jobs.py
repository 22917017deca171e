"""Jobs that only tests run in the trainer process (registered by the tests that use them, with
workbench.core.jobs.register_job; the trainer process imports this module from PYTHONPATH)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any


def sleep_job(control: Any, seconds: float, steps: int = 1) -> Iterator[int]:
    """Steps of `seconds` each that ignore stop requests (a stuck step): for shutdown tests."""
    for step in range(steps):
        time.sleep(seconds)
        yield step


def failing_job(control: Any, error: str) -> Iterator[int]:
    """One event, then the named exception (for the error kinds)."""
    from workbench.core.errors import Cancelled, UserError

    yield 1
    raise {
        "user": UserError("fix the thing"),
        "memory": MemoryError(),
        "cancelled": Cancelled(),
        "bug": KeyError("x"),
    }[error]


def segfault_job(control: Any) -> Iterator[int]:
    """One event, then a segmentation fault on this job's thread (crash details show this stack)."""
    import faulthandler

    yield 1
    time.sleep(0.2)
    faulthandler._sigsegv()
    yield 2
