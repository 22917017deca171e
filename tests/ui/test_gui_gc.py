"""Python's cyclic GC never frees a widget on a job thread (workbench/ui/gui_gc.py): with a JobRunner in the
process, windows and timers that only a reference cycle kept are freed on the GUI thread while other threads
allocate. Before, the UI suite died now and then with a segmentation fault in QTimerInfoList::activateTimers.
Run in a fresh process: the fault kills the process that has it."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = r"""
import gc, threading, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget
from workbench.ui.jobs import JobRunner

app = QApplication([])
runner = JobRunner()  # as every window's session has one
assert not gc.isenabled()

class Window(QWidget):  # a closed window that only a reference cycle keeps, its timer running
    def __init__(self):
        super().__init__()
        self.me = self
        self.timer = QTimer(self)
        self.timer.timeout.connect(lambda: None)
        self.timer.start(5)

stop = threading.Event()
def allocate():  # as the job threads do while the user works
    while not stop.is_set():
        [[] for _ in range(1000)]

thread = threading.Thread(target=allocate, daemon=True)
thread.start()
freed = []
end = time.monotonic() + 4
while time.monotonic() < end:
    for _ in range(20):
        window = Window()
        window.destroyed.connect(lambda: freed.append(threading.current_thread() is threading.main_thread()))
    del window
    app.processEvents()
stop.set()
thread.join()
for _ in range(3):
    time.sleep(0.6)
    app.processEvents()
print("freed", len(freed), "off the GUI thread", freed.count(False), flush=True)
runner.shutdown()
"""


def test_widgets_in_reference_cycles_are_freed_on_the_gui_thread(tmp_path):
    script = tmp_path / "gc_threads.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "Timers cannot be stopped from another thread" not in result.stderr
    words = result.stdout.split()
    assert int(words[1]) > 100 and words[-1] == "0", result.stdout  # many freed, none off the GUI thread
