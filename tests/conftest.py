"""Shared test set-up: Qt offscreen, settings and user data in temp folders, no dangling threads.

Qt-free: the GUI fixtures live in tests/qt_fixtures.py (imported by tests/ui, tests/plugins and
tests/reliability). With WORKBENCH_TEST_BLOCK_QT=1, importing PySide6, shiboken6 or pyqtgraph raises
ImportError: `make test` runs tests/core that way (with `-p no:pytest-qt`), so a core module or core test that
needs Qt fails."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest
from threadguard import record_qthread_starts, running_qthreads

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

BLOCKED_QT = ("PySide6", "shiboken6", "pyqtgraph")


class _QtBlocker:
    """A meta-path finder that refuses the Qt packages."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED_QT:
            raise ImportError(f"{name} is blocked in this run (WORKBENCH_TEST_BLOCK_QT=1: core is Qt-free)")
        return None


if os.environ.get("WORKBENCH_TEST_BLOCK_QT") == "1":
    sys.meta_path.insert(0, _QtBlocker())


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
    if "workbench.plugins.manager" in sys.modules:
        sys.modules["workbench.plugins.manager"].reset_plugins()


OUR_THREAD_PREFIX = "wb-"  # every thread Workbench starts is named wb-<job>


@pytest.fixture(autouse=True)
def _no_dangling_threads():
    """Fail any test that leaves one of our threads or any QThread running (napari's _dangling_qthreads)."""
    yield
    deadline = time.monotonic() + 2.0
    while True:
        leftover = [
            t.name for t in threading.enumerate() if t.name.startswith(OUR_THREAD_PREFIX) and t.is_alive()
        ]
        running = running_qthreads()
        if not (leftover or running) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leftover, f"test left threads running: {leftover}"
    assert not running, f"test left QThreads running: {running}"
    children = _child_processes()
    assert not children, f"test left child processes running: {children}"


def _child_processes() -> list[str]:
    """Our child processes still running, except the shared warm trainer process parked between GUI tests."""
    import psutil

    # the GUI tests' parking supply (tests/qt_fixtures.py), even while a test has swapped in another one
    supply = getattr(sys.modules.get("qt_fixtures"), "PARKING", None)
    parked = supply.pids() if supply is not None else set()
    deadline = time.monotonic() + 2.0
    while True:
        found = []
        for child in psutil.Process().children():
            try:
                if child.pid not in parked and child.status() != psutil.STATUS_ZOMBIE:
                    found.append(f"{child.pid} {' '.join(child.cmdline()[:4])}")
            except psutil.NoSuchProcess:
                pass
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def pytest_configure(config):
    """QSettings go to a test location (~/.qttest), never the user's real settings."""
    try:
        from PySide6.QtCore import QStandardPaths, QThread
    except ImportError:
        return
    QStandardPaths.setTestModeEnabled(True)
    record_qthread_starts(QThread)
