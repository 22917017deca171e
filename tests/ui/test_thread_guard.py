"""The autouse guard in conftest must catch a QThread left running (a guard that cannot fail is a defect)."""

from PySide6.QtCore import QThread
from threadguard import running_qthreads


class _Sleeper(QThread):
    def run(self):
        self.msleep(300)


def test_guard_sees_a_running_qthread(qtbot):
    thread = _Sleeper()
    thread.start()
    try:
        assert thread in running_qthreads()
    finally:
        thread.wait(2000)
    assert thread not in running_qthreads()
