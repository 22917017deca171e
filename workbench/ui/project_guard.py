"""The questions that keep a project's work from being lost: save or discard (with the runs an untitled project
would lose), copy or move the runs on Save As, a file changed or moved on disk, the untitled projects of
earlier sessions to recover, and Ctrl-C in the terminal (closes the window as Quit does)."""

from __future__ import annotations

import contextlib
import datetime
import signal
import socket
from collections.abc import Callable

from PySide6.QtCore import QObject, QSocketNotifier, Qt, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.project_files import UntitledProject


def ask(parent: QWidget | None, title: str, text: str, buttons: list[str], default: str, name: str) -> str:
    """A question with worded buttons; returns the clicked button's text ("Cancel" when closed otherwise).
    The box has objectName `name` (docs/contract.md) so scripts and tests can find it."""
    box = QMessageBox(parent)
    box.setObjectName(name)
    box.setIcon(QMessageBox.Question)
    box.setWindowTitle(title)
    box.setText(text)
    made = {}
    for label in buttons:
        role = QMessageBox.RejectRole if label == "Cancel" else QMessageBox.AcceptRole
        if label == "Discard":
            role = QMessageBox.DestructiveRole
        made[label] = box.addButton(label, role)
    box.setDefaultButton(made[default])
    if "Cancel" in made:
        box.setEscapeButton(made["Cancel"])
    box.exec()
    clicked = box.clickedButton()
    return next((label for label, button in made.items() if button is clicked), "Cancel")


def save_changes_text(name: str, unsaved_runs: int, dirty_edits: bool) -> str:
    if unsaved_runs:
        runs = f"{unsaved_runs} run{'s' if unsaved_runs != 1 else ''}"
        return (
            f"“{name}” has never been saved and has {runs}. Save it to keep the {runs} beside the project file; "
            f"Discard deletes the {runs} and the unsaved project."
        )
    return f"Save the changes to “{name}” first?" if dirty_edits else f"Save “{name}” first?"


# -- the untitled projects of earlier sessions
# ---------------------------------------------------------------------------
class RecoveryDialog(QDialog):
    """Untitled projects with runs left by earlier sessions: Recover one (it opens, still unsaved) or Discard
    it (deleted after a confirmation). `recovered` is the folder picked, or None."""

    def __init__(self, found: list[UntitledProject], parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("untitledRecoveryDialog")
        self.setWindowTitle("Recover unsaved projects")
        self.recovered = None
        self.discarded: list = []
        intro = QLabel(
            "These projects were never saved, but they have runs. Recover one to keep working on it "
            "(save it to keep its runs beside the project file), or discard it (its runs are deleted)."
        )
        intro.setWordWrap(True)
        self.list = QListWidget(objectName="untitledRecoveryList")
        for project in found:
            when = datetime.datetime.fromtimestamp(project.modified).strftime("%Y-%m-%d %H:%M")
            runs = f"{project.runs} run{'s' if project.runs != 1 else ''}"
            item = QListWidgetItem(f"{project.name} · {runs} · last run {when}")
            item.setData(Qt.UserRole, project)
            item.setToolTip(str(project.folder))
            self.list.addItem(item)
        self.list.setCurrentRow(0)
        buttons = QDialogButtonBox()
        self.recover_button = QPushButton("Recover", objectName="recoverUntitledButton")
        self.discard_button = QPushButton("Discard…", objectName="discardUntitledButton")
        buttons.addButton(self.recover_button, QDialogButtonBox.AcceptRole)
        buttons.addButton(self.discard_button, QDialogButtonBox.DestructiveRole)
        buttons.addButton("Later", QDialogButtonBox.RejectRole)
        self.recover_button.clicked.connect(self._on_recover_clicked)
        self.discard_button.clicked.connect(self._on_discard_clicked)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.list, 1)
        layout.addWidget(buttons)
        self.resize(560, 320)

    def _current(self) -> UntitledProject | None:
        item = self.list.currentItem()
        return item.data(Qt.UserRole) if item is not None else None

    def _on_recover_clicked(self) -> None:
        project = self._current()
        if project is not None:
            self.recovered = project.folder
            self.accept()

    def _on_discard_clicked(self) -> None:
        import shutil

        project = self._current()
        if project is None:
            return
        answer = ask(
            self,
            "Discard unsaved project",
            f"Delete “{project.name}” and its {project.runs} run(s) for good? ({project.folder})",
            ["Discard", "Cancel"],
            "Cancel",
            "confirmDiscardUntitledBox",
        )
        if answer != "Discard":
            return
        shutil.rmtree(project.folder, ignore_errors=True)
        self.discarded.append(project.folder)
        self.list.takeItem(self.list.currentRow())
        if self.list.count() == 0:
            self.reject()


# -- Ctrl-C in the terminal
# ----------------------------------------------------------------------------------------------
class InterruptHandler(QObject):
    """SIGINT (Ctrl-C in the terminal that started the GUI) closes the window as Quit does, instead of a
    KeyboardInterrupt raised inside whatever Qt slot runs. Python runs signal handlers only between bytecodes
    of the main thread, which sits in Qt's event loop: the signal's byte on a socket (signal.set_wakeup_fd)
    wakes the loop through a QSocketNotifier. A second Ctrl-C while a question is open quits without asking
    (the run stops with its checkpoint; unsaved edits go to the autosave)."""

    def __init__(self, on_interrupt: Callable[[bool], None], parent: QObject | None = None):
        super().__init__(parent)
        self.on_interrupt = on_interrupt
        self.count = 0
        self._reader, self._writer = socket.socketpair()
        for end in (self._reader, self._writer):
            end.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno())
        self._previous_handler = signal.signal(signal.SIGINT, self._on_signal)
        self.notifier = QSocketNotifier(self._reader.fileno(), QSocketNotifier.Read, self)
        self.notifier.activated.connect(self._on_notifier_activated)

    def _on_signal(self, _signum, _frame) -> None:
        self.count += 1
        QTimer.singleShot(0, lambda forced=self.count > 1: self.on_interrupt(forced))

    def _on_notifier_activated(self, *_args) -> None:
        with contextlib.suppress(OSError):
            self._reader.recv(64)  # the Python-level handler runs as soon as this slot returns

    def uninstall(self) -> None:
        self.notifier.setEnabled(False)
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGINT, self._previous_handler or signal.SIG_DFL)
            signal.set_wakeup_fd(self._previous_fd)
        self._reader.close()
        self._writer.close()


def can_ask() -> bool:
    """A person can answer a dialog: a real display (not the offscreen platform) and an open window."""
    app = QApplication.instance()
    return (
        app is not None and app.platformName() not in ("offscreen", "minimal") and bool(app.topLevelWindows())
    )
