"""DataLoad: loads a data set for the Dataset panel and the New project dialog, as a job (workbench.ui.jobs).

With a JobRunner a built-in source loads in the trainer process (`load_data`), which keeps it for training and
sends the GUI a copy with numpy arrays, so the GUI process never imports torch for it; a data set too large to
send (or streamed from disk), a plugin's source, or any load without a JobRunner runs here on a thread.
Results come back as signals tagged with the load's generation; a cancelled load's results are dropped.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from workbench.core.data.settings import DatasetSettings
from workbench.core.errors import Cancelled
from workbench.core.jobs import ErrorKind

LOAD_FAILED = {
    "MemoryError": "not enough memory to load this data set; resize the images smaller or set "
    "in_memory to no (stream from disk)"
}


def _load_here(settings: DatasetSettings, cancel: threading.Event, push):
    """The thread variant of the trainer process's `load_data` job: the same events."""
    from workbench.core.data import load_dataset
    from workbench.core.trainer_process import preview_table

    data = load_dataset(
        settings, lambda done, total, text: push([("progress", done, total, text)]), cancel.is_set
    )
    yield ("loaded", data, preview_table(settings))


def _in_trainer(kind: str) -> bool:
    """Where the load runs: workbench.core.jobs.placement_of_item (a source registered only in this process
    loads here; an unknown kind too: the load here reports it)."""
    from workbench.core.data.registry import SOURCES
    from workbench.core.jobs import Placement, placement_of_item

    return kind in SOURCES.names() and placement_of_item(SOURCES, kind) is Placement.TRAINER


class DataLoad(QObject):
    sig_progress = Signal(int, int, str)  # done, total (0 = unknown), message
    sig_loaded = Signal(int, object, object)  # generation, DataBundle, CSV preview table (or None)
    sig_failed = Signal(int, str)  # generation, message for the user
    sig_cancelled = Signal(int)
    finished = Signal()

    def __init__(
        self, settings: DatasetSettings, generation: int, parent=None, jobs=None, kind: str = "data"
    ):
        super().__init__(parent)
        self.settings = settings
        self.generation = generation
        self.jobs = jobs
        self.kind = kind
        self.job = None
        self._cancel = threading.Event()

    def start(self) -> None:
        if self.jobs is not None and not self.jobs.closing and _in_trainer(self.settings.kind):
            self._run(self.jobs.job(self.kind, "load_data", dataset=self.settings.model_dump(mode="json")))
        else:
            self._start_here()

    def _start_here(self) -> None:
        from workbench.ui.jobs import ThreadJob

        job = ThreadJob(
            self.kind,
            lambda: _load_here(self.settings, self._cancel, job._push),
            on_command=lambda action, _arg: self._cancel.set() if action == "cancel" else None,
        )
        self._run(job)

    def _run(self, job) -> None:
        self.job = job
        job.sig_events.connect(lambda events, j=job: self._on_job_events(j, events))
        job.sig_done.connect(lambda error, j=job: self._on_job_done(j, error))
        if self.jobs is not None:
            self.jobs.start(job)
        else:
            job.setParent(self)
            job.start()

    def cancel(self) -> None:
        self._cancel.set()
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.sig_cancelled.emit(self.generation)
            self.finished.emit()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def wait(self, timeout_ms: int = 5000) -> bool:
        return self.job is None or self.job.wait(timeout_ms / 1000)

    def _on_job_events(self, job, events: list) -> None:
        if job is not self.job:
            return
        for event in events:
            if event[0] == "progress":
                self.sig_progress.emit(*event[1:])
            elif event[0] == "loaded":
                self.sig_loaded.emit(self.generation, event[1], event[2])
            elif event[0] == "streamed":  # too large to send: load it here instead
                self._start_here()
                return

    def _on_job_done(self, job, error) -> None:
        if job is not self.job:
            return
        if error is not None:
            if error.cancelled:
                self.sig_cancelled.emit(self.generation)
            elif error.user_error:
                self.sig_failed.emit(self.generation, error.message)
            elif error.kind is ErrorKind.OUT_OF_MEMORY:
                self.sig_failed.emit(self.generation, LOAD_FAILED["MemoryError"])
            else:
                self.sig_failed.emit(
                    self.generation, f"unexpected error while loading ({error.message}); please report it"
                )
        self.finished.emit()


__all__ = ["Cancelled", "DataLoad"]
