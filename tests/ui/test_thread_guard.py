"""The autouse guard in conftest must catch a QThread left running (a guard that cannot fail is a defect)."""

from conftest import _running_qthreads  # the module pytest loaded (tests/ is on sys.path)
from PySide6.QtCore import QThread


class _Sleeper(QThread):
    def run(self):
        self.msleep(300)


def test_guard_sees_a_running_qthread(qtbot):
    thread = _Sleeper()
    thread.start()
    try:
        assert thread in _running_qthreads()
    finally:
        thread.wait(2000)
    assert thread not in _running_qthreads()
