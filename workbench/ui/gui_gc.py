"""Python's cyclic garbage collector runs on the GUI thread only.

The collector runs on whichever thread happens to allocate when a generation's threshold is crossed. In the GUI
process the job threads (wb-trainer, wb-hardware, wb-<kind>) allocate all the time, so a widget or timer that
only a reference cycle kept (a closed window, a panel's pyqtgraph items) was freed on one of them: Qt then
cannot stop its timers ("QObject::~QObject: Timers cannot be stopped from another thread") and the GUI thread
later fires a timer of a deleted object: a segmentation fault in QTimerInfoList::activateTimers (seen in the GUI
test suite). pyqtgraph's `GarbageCollector` is the same remedy: automatic collection off, the generations
collected by a timer on the GUI thread with the thresholds Python would have used.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

CHECK_MS = (
    500  # a generation-0 pass is well under a millisecond; the full ones follow Python's own thresholds
)


class _GuiThreadCollector(QObject):
    def __init__(self, app: QCoreApplication):
        super().__init__(app)
        self.setObjectName("wbGuiThreadCollector")
        self.thresholds = gc.get_threshold()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        self.timer.start(CHECK_MS)
        app.aboutToQuit.connect(self.timer.stop)

    def check(self) -> None:
        count0, count1, count2 = gc.get_count()
        t0, t1, t2 = self.thresholds
        if count0 > t0:
            generation = 2 if count1 > t1 and count2 > t2 else 1 if count1 > t1 else 0
            gc.collect(generation)


def collect_on_gui_thread(app: QCoreApplication) -> None:
    """Turn automatic collection off and collect on `app`'s thread instead (once per application)."""
    if app.findChild(_GuiThreadCollector, "wbGuiThreadCollector") is None:
        _GuiThreadCollector(app)
    gc.disable()
