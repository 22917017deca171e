"""Shared test set-up: Qt offscreen, settings and user data in temp folders, no dangling threads."""

from __future__ import annotations

import os
import threading
import time
import weakref

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Each test gets its own user-data folder (autosaves, plugin state) so tests never share state."""
    home = tmp_path_factory.mktemp("wbhome")
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    yield home


OUR_THREAD_PREFIX = "wb-"  # every thread Workbench starts is named wb-<job>


@pytest.fixture(autouse=True)
def _no_dangling_threads():
    """Fail any test that leaves one of our threads or any QThread running (napari's _dangling_qthreads)."""
    yield
    deadline = time.monotonic() + 2.0
    while True:
        leftover = [t.name for t in threading.enumerate() if t.name.startswith(OUR_THREAD_PREFIX) and t.is_alive()]
        running = _running_qthreads()
        if not (leftover or running) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leftover, f"test left threads running: {leftover}"
    assert not running, f"test left QThreads running: {running}"


_STARTED_QTHREADS: weakref.WeakSet = weakref.WeakSet()


def _running_qthreads() -> list:
    found = []
    for thread in list(_STARTED_QTHREADS):
        try:
            if thread.isRunning():
                found.append(thread)
        except RuntimeError:  # the C++ object is gone
            pass
    return found


def pytest_configure(config):
    """QSettings go to a test location (~/.qttest), never the user's real settings."""
    try:
        from PySide6.QtCore import QStandardPaths, QThread
    except ImportError:
        return
    QStandardPaths.setTestModeEnabled(True)
    # Record every QThread started from Python, so the fixture above checks them without scanning the heap.
    original_start = QThread.start

    def recording_start(self, *args, **kwargs):
        _STARTED_QTHREADS.add(self)
        return original_start(self, *args, **kwargs)

    QThread.start = recording_start
