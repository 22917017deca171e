"""PySide6 6.12.0 on Python 3.11 drops a reference from None on every void-returning call, and a live plot
aborts with `Fatal Python error: none_dealloc`. This catches such a release before users do."""

import sys

from PySide6.QtCore import QObject, QTimer


def test_void_calls_keep_none_refcount(qapp):
    obj = QObject()
    timer = QTimer()
    before = sys.getrefcount(None)
    for i in range(3000):
        obj.setObjectName(f"n{i % 7}")
        timer.setInterval(10 + i % 5)
    drift = sys.getrefcount(None) - before
    # 6.11.x: 0; the broken 6.12.0 loses one reference per call (-6000 here).
    assert abs(drift) < 100, f"PySide6 leaks/drops None references: {drift} after 6000 void calls"
