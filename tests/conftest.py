"""Shared test set-up: Qt offscreen, settings and user data in temp folders, no dangling threads."""

from __future__ import annotations

import os
import threading
import time

import pytest
from threadguard import record_qthread_starts, running_qthreads

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Each test gets its own user-data folder (autosaves, plugin state) so tests never share state."""
    home = tmp_path_factory.mktemp("wbhome")
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    yield home


@pytest.fixture(autouse=True)
def _no_plugins_left_loaded():
    """The CLI and the GUI load plugins into process-wide registries; each test starts from the built-ins."""
    yield
    import sys

    if "workbench.plugins.manager" in sys.modules:
        sys.modules["workbench.plugins.manager"].reset_plugins()


@pytest.fixture(autouse=True)
def _no_blocking_dialogs(monkeypatch):
    """A modal QMessageBox would hang the suite: static ones answer at once (Discard / No / Ok) and are
    recorded in `DIALOGS`. Tests that need another answer patch QMessageBox themselves."""
    from PySide6.QtWidgets import QMessageBox

    DIALOGS.clear()

    def answer(kind):
        def static(parent, title, text, *args, **kwargs):
            DIALOGS.append((kind, title, text))
            if kind == "question":
                buttons = args[0] if args else kwargs.get("buttons", QMessageBox.Yes | QMessageBox.No)
                return QMessageBox.Discard if buttons & QMessageBox.Discard else QMessageBox.No
            return QMessageBox.Ok
        return static

    for kind in ("question", "warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, kind, answer(kind))
    monkeypatch.setattr(QMessageBox, "about", lambda *a, **k: DIALOGS.append(("about",) + a[1:3]))
    yield


DIALOGS: list[tuple] = []

OUR_THREAD_PREFIX = "wb-"  # every thread Workbench starts is named wb-<job>


@pytest.fixture(autouse=True)
def _no_dangling_threads():
    """Fail any test that leaves one of our threads or any QThread running (napari's _dangling_qthreads)."""
    yield
    deadline = time.monotonic() + 2.0
    while True:
        leftover = [t.name for t in threading.enumerate() if t.name.startswith(OUR_THREAD_PREFIX) and t.is_alive()]
        running = running_qthreads()
        if not (leftover or running) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leftover, f"test left threads running: {leftover}"
    assert not running, f"test left QThreads running: {running}"


def pytest_configure(config):
    """QSettings go to a test location (~/.qttest), never the user's real settings."""
    try:
        from PySide6.QtCore import QStandardPaths, QThread
    except ImportError:
        return
    QStandardPaths.setTestModeEnabled(True)
    record_qthread_starts(QThread)
