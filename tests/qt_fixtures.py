"""Qt fixtures for the test folders that use a GUI (tests/ui, tests/plugins, tests/reliability): their
conftest.py imports them. tests/conftest.py stays Qt-free so tests/core runs with PySide6 blocked (see
`make test`)."""

from __future__ import annotations

import pytest

DIALOGS: list[tuple] = []


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

    def ask(parent, title, text, buttons, default, name):  # workbench.ui.project_guard.ask, answered at once
        DIALOGS.append(("ask", title, text))
        if "Discard" in buttons:
            return "Discard"
        return "Cancel" if default in ("Save", "Save As…") else default

    from workbench.ui import project_guard

    monkeypatch.setattr(project_guard, "ask", ask)
    yield


PARKING = None  # the ParkingSupply of this test run (tests/conftest.py leaves its parked process alone)


class ParkingSupply:
    """Trainer processes for the GUI tests: a closed window parks its idle, healthy process for the next one."""

    def __init__(self, fresh):
        self.fresh = fresh
        self.parked: list = []

    def take(self):
        while self.parked:
            process = self.parked.pop()
            if process.alive():
                return process
            process.dispose()
        return self.fresh.take()

    def release(self, process, running: list, timeout_s: float) -> bool:
        if not running and process.alive():
            self.parked.append(process)
            return True
        return self.fresh.release(process, running, timeout_s)

    def pids(self) -> set[int]:
        return {p.pid for p in self.parked}

    def close(self) -> None:
        while self.parked:
            self.parked.pop().close()


@pytest.fixture(autouse=True, scope="session")
def _warm_trainer_process_shared():
    """One warm trainer process serves the GUI tests (see ParkingSupply)."""
    from workbench.ui import jobs

    if isinstance(jobs.PROCESSES, ParkingSupply):
        # each folder's conftest imports this fixture, so pytest holds one per folder: the first one in a run
        # serves them all (a second supply would not know the first one's parked process)
        yield
        return
    global PARKING
    fresh = jobs.PROCESSES
    jobs.PROCESSES = PARKING = ParkingSupply(fresh)
    yield
    jobs.PROCESSES = fresh
    PARKING.close()
    PARKING = None


@pytest.fixture(autouse=True)
def _jobs_shut_down():
    """A test that built a session without closing a window still ends its jobs (as closing would)."""
    yield
    from workbench.ui import jobs

    jobs.shutdown_all()
