"""Which QThreads are still running: every QThread started from Python is recorded (no heap scan)."""

from __future__ import annotations

import weakref

_STARTED: weakref.WeakSet = weakref.WeakSet()


def record_qthread_starts(qthread_class) -> None:
    original_start = qthread_class.start

    def recording_start(self, *args, **kwargs):
        _STARTED.add(self)
        return original_start(self, *args, **kwargs)

    qthread_class.start = recording_start


def running_qthreads() -> list:
    found = []
    for thread in list(_STARTED):
        try:
            if thread.isRunning():
                found.append(thread)
        except RuntimeError:  # the C++ object is gone
            pass
    return found
