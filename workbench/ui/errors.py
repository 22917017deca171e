"""Unexpected exceptions in the GUI: a dialog, a log file, and the app keeps running.

An exception raised in a Qt slot (a button's handler, a timer, a paint) reaches `sys.excepthook`; by default
Python prints it to stderr only, so the user sees a button that silently does nothing. `install()` replaces
the hook: the exception is appended to `errors.log` in the user data folder and a dialog shows a one-line
summary with the traceback under Details. One dialog at a time: exceptions that arrive while it is open
(a failing paint repeats every frame) are logged and counted, not stacked.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import traceback
from pathlib import Path

LOG_NAME = "errors.log"
MAX_LOG_BYTES = 2 << 20  # the log is cut to its newer half past this size


def log_path() -> Path:
    from workbench.core.paths import user_data_dir

    return user_data_dir() / LOG_NAME


def summary(exc: BaseException) -> str:
    """One line: the exception type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def append_to_log(exc_type, exc, tb) -> Path | None:
    """Append a dated traceback to the log; None when the log cannot be written (that never raises)."""
    from workbench.core.io import atomic_write_bytes

    path = log_path()
    try:
        if path.exists() and path.stat().st_size > MAX_LOG_BYTES:
            keep = path.read_bytes()[-MAX_LOG_BYTES // 2 :]
            atomic_write_bytes(path, keep)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n")
            fh.write("".join(traceback.format_exception(exc_type, exc, tb)))
    except OSError:
        return None
    return path


class ExceptionHook:
    """The hook object (kept so tests can look at the dialog it shows)."""

    def __init__(self, parent_getter=None):
        self.parent_getter = parent_getter or (lambda: None)
        self.dialog = None
        self.suppressed = 0
        self.previous = sys.excepthook

    def __call__(self, exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            self.previous(exc_type, exc, tb)
            return
        log = append_to_log(exc_type, exc, tb)
        sys.stderr.write("".join(traceback.format_exception(exc_type, exc, tb)))
        if threading.current_thread() is not threading.main_thread():
            return  # widgets belong to the GUI thread; the log and stderr have it
        with contextlib.suppress(Exception):  # the hook itself must never raise
            self._show(exc, "".join(traceback.format_exception(exc_type, exc, tb)), log)

    def _show(self, exc: BaseException, details: str, log: Path | None) -> None:
        from PySide6.QtWidgets import QApplication, QMessageBox

        if QApplication.instance() is None:
            return
        if self.dialog is not None and self.dialog.isVisible():
            self.suppressed += 1
            self.dialog.setInformativeText(
                self._informative(log) + f"\n{self.suppressed} more error(s) since, in the log."
            )
            return
        self.suppressed = 0
        box = QMessageBox(self.parent_getter())
        box.setObjectName("unexpectedErrorDialog")
        box.setIcon(QMessageBox.Critical)
        box.setWindowTitle("Unexpected error")
        box.setText(f"<b>Something went wrong:</b> {_escape(summary(exc))}")
        box.setInformativeText(self._informative(log))
        box.setDetailedText(details)
        box.setStandardButtons(QMessageBox.Ok)
        self.dialog = box
        box.open()  # not exec(): no nested event loop inside the hook; the app keeps running

    @staticmethod
    def _informative(log: Path | None) -> str:
        where = f"The details are in {log}." if log is not None else "The log could not be written."
        return f"Workbench keeps running; what you were doing may not have finished. {where}"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def install(parent_getter=None) -> ExceptionHook:
    """Make `sys.excepthook` the GUI hook (`parent_getter()` gives the dialog's parent window)."""
    hook = ExceptionHook(parent_getter)
    sys.excepthook = hook
    return hook
