"""An unexpected exception in a Qt slot: a dialog (one-line summary, traceback under Details), a line in the
error log in the user data folder, and the app keeps running."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox, QPushButton

from workbench.ui import errors


@pytest.fixture
def hook():
    before = sys.excepthook
    yield
    sys.excepthook = before


@pytest.mark.qt_no_exception_capture
def test_a_failing_slot_shows_a_dialog_logs_it_and_the_app_goes_on(qtbot, hook, _isolated_home):
    calls = []

    def broken():
        calls.append(1)
        raise ValueError("the histogram has no bins\nsecond line not in the summary")

    button = QPushButton("Go")
    qtbot.addWidget(button)
    button.clicked.connect(broken)
    button.show()
    installed = errors.install(lambda: button)
    QTest.mouseClick(button, Qt.LeftButton)
    qtbot.waitUntil(lambda: installed.dialog is not None and installed.dialog.isVisible(), timeout=5000)
    box = installed.dialog
    assert isinstance(box, QMessageBox)
    assert "ValueError: the histogram has no bins" in box.text() and "second line" not in box.text()
    assert "Traceback" in box.detailedText() and "in broken" in box.detailedText()
    log = _isolated_home / errors.LOG_NAME
    assert "ValueError: the histogram has no bins" in log.read_text()
    assert str(log) in box.informativeText()
    # the app keeps running: the button still works, a repeat is logged and counted, not a second dialog
    QTest.mouseClick(button, Qt.LeftButton)
    assert len(calls) == 2 and installed.dialog is box and installed.suppressed == 1
    assert log.read_text().count("\nValueError: the histogram") == 2
    box.accept()


def test_the_app_installs_the_hook_on_its_window(qtbot, hook):
    from workbench.ui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    installed = window.install_exception_hook()
    assert sys.excepthook is installed
    window.shutdown()
