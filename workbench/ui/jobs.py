"""One background-job abstraction for the whole GUI.

A `Job` is one piece of background work of a *kind* ("train", "evaluate", "export", "data", "analysis",
"hardware"). It runs either on a thread of this process (`ThreadJob`: a plain core generator on a QThread) or
in the trainer process (`ProcessJob`: a named core generator that `TrainerHost` runs there). Either way:
- its events reach the GUI thread in order, none dropped, as one list per tick of the job's own clock
  (`interval_ms`; 33 ms = 30 frames a second for the live training view), only when there are new ones;
- `sig_done(None | JobError)` comes once, after the last events;
- `cancel()` drops every result from then on (no sig_events, no sig_done) and asks the work to stop;
- `JobRunner.start(job)` cancels (or refuses, `if_busy="refuse"`) the running job of the same kind;
- `JobRunner.shutdown()` is the one shutdown policy: every job is asked to stop, the window waits at most
  SHUTDOWN_S, the trainer process is closed (asked to exit when a job there writes files, killed when it does
  not exit in time, or at once when there is nothing to save) and a thread that is stuck
  is left behind without ever being destroyed while it runs (`workbench.app` then ends the process with
  os._exit, so Qt never aborts on "QThread: Destroyed while thread is still running").

The GUI process never imports torch for this: events are the core's plain frozen dataclasses.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, QTimer, Signal, Slot

SHUTDOWN_S = 1.8  # closing the window: every job and the trainer process end within this
FRAME_MS = 33  # the live training view: at most 30 frames a second
DRAIN_MS = 40  # other jobs deliver their events 25 times a second
KEEP_WARM = False  # tests: a closed window parks its idle trainer process for the next window
_POOL: list = []  # parked, idle TrainerProcess objects (KEEP_WARM)
_ABANDONED: list = []  # stuck QThreads that must outlive their window (never destroyed running)
_RUNNERS: list = []  # open JobRunners (held until shut down: a running QThread is never freed)


@dataclass(frozen=True)
class JobError:
    message: str  # one line for the user
    details: str | None = None  # a traceback, or the last lines of the trainer process's stderr
    user_error: bool = False  # bad input (a UserError): the message says how to fix it
    crashed: bool = False  # the trainer process died (signal, abort, OOM killer)


class Job(QObject):
    sig_events = Signal(list)
    sig_done = Signal(object)
    _sig_ended = Signal(object)  # from any thread: the work ended (None or JobError)

    def __init__(self, kind: str, interval_ms: int = DRAIN_MS, parent: QObject | None = None):
        super().__init__(parent)
        self.kind = kind
        self.cancelled = False
        self.started = False
        self.ended = False
        self._ended_flag = threading.Event()
        self._buffer: collections.deque = collections.deque()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        if interval_ms <= FRAME_MS:  # a live view: frames on time, not coalesced
            self._timer.setTimerType(Qt.PreciseTimer)
        self._timer.timeout.connect(self._deliver)
        self._sig_ended.connect(self._on_ended)

    @property
    def running(self) -> bool:
        return self.started and not self.ended

    def start(self) -> None:
        self.started = True
        self._timer.start()
        self._begin()

    def _begin(self) -> None:
        raise NotImplementedError

    def command(self, action: str, argument: Any = None) -> None:
        """pause | resume | stop | stop_after_epoch (training), cancel (any job)."""

    def cancel(self) -> None:
        self.cancelled = True
        self.command("cancel")

    def wait(self, timeout_s: float) -> bool:
        """Block (shutdown only) until the work has ended; True when it has."""
        return self._ended_flag.wait(timeout_s)

    # -- from the job's thread
    # ------------------------------------------------------------------------------------
    def _push(self, events: list) -> None:
        self._buffer.extend(events)

    def _end(self, error: JobError | None) -> None:
        self._ended_flag.set()
        self._sig_ended.emit(error)

    # -- GUI thread
    # --------------------------------------------------------------------------------------------------
    def take(self) -> list:
        items = []
        pop = self._buffer.popleft
        while True:
            try:
                items.append(pop())
            except IndexError:
                return items

    @Slot()
    def _deliver(self) -> None:
        items = self.take()
        if items and not self.cancelled:
            self.sig_events.emit(items)

    @Slot(object)
    def _on_ended(self, error) -> None:
        if self.ended:
            return
        self.ended = True
        self._timer.stop()
        self._deliver()
        if not self.cancelled:
            self.sig_done.emit(error)


# -- jobs on a thread of the GUI process
# -------------------------------------------------------------------------
class _GeneratorThread(QThread):
    def __init__(self, job: ThreadJob):
        super().__init__()
        self.job = job
        self.setObjectName(f"wb-{job.kind}")

    def run(self) -> None:
        job, error, generator = self.job, None, None
        try:
            generator = job.make()
            for event in generator:
                job._buffer.append(event)
                if job.stop_flag.is_set():
                    break
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI, never lost
            error = _error_from_exception(exc)
        finally:
            if generator is not None and hasattr(generator, "close"):
                try:
                    generator.close()
                except Exception as exc:  # noqa: BLE001
                    error = error or _error_from_exception(exc)
            job._end(error)


class ThreadJob(Job):
    """A Qt-free core generator on a QThread named wb-<kind>. `on_command(action, argument)` is how the work
    hears pause/stop/cancel (e.g. setting the core's cancel flag); the thread also stops at its next event."""

    def __init__(
        self,
        kind: str,
        make: Callable[[], Iterator[Any]],
        on_command: Callable | None = None,
        interval_ms: int = DRAIN_MS,
        parent: QObject | None = None,
    ):
        super().__init__(kind, interval_ms, parent)
        self.make = make
        self.on_command = on_command
        self.stop_flag = threading.Event()
        self.thread = _GeneratorThread(self)

    def _begin(self) -> None:
        self.thread.start()

    def command(self, action: str, argument: Any = None) -> None:
        if action in ("cancel", "stop"):
            self.stop_flag.set()
        if self.on_command is not None:
            self.on_command(action, argument)

    def wait(self, timeout_s: float) -> bool:
        return self.thread.wait(max(0, int(timeout_s * 1000))) and super().wait(0.1)

    def _on_ended(self, error) -> None:
        self.thread.wait()  # the run() has returned; let the QThread finish before it can be freed
        super()._on_ended(error)


def _error_from_exception(exc: BaseException) -> JobError:
    from workbench.core.errors import UserError

    if isinstance(exc, UserError):
        return JobError(str(exc), user_error=True)
    return JobError(f"{type(exc).__name__}: {exc}", traceback.format_exc())


# -- jobs in the trainer process
# ---------------------------------------------------------------------------------
class ProcessJob(Job):
    """`name` is one of workbench.core.trainer_process.JOBS; `kwargs` plain data (JSON-like)."""

    def __init__(
        self,
        kind: str,
        host: TrainerHost,
        name: str,
        kwargs: dict,
        interval_ms: int = DRAIN_MS,
        parent: QObject | None = None,
    ):
        super().__init__(kind, interval_ms, parent)
        self.host = host
        self.name = name
        self.kwargs = kwargs
        self.job_id = 0
        self.last_step = 0  # the last training step seen: a crash report names it
        self.device = ""

    def _begin(self) -> None:
        self.host.submit(self)

    def command(self, action: str, argument: Any = None) -> None:
        if self.job_id and not self.ended:
            self.host.send(("control", self.job_id, action, argument))

    def _push(self, events: list) -> None:
        for event in reversed(events):
            if getattr(event, "kind", None) == "batch":
                self.last_step = event.step
                break
        for event in events:
            if getattr(event, "kind", None) == "started":
                self.device = event.device
        super()._push(events)


class TrainerHost(QThread):
    """The QThread that drives the trainer process: starts it (warm before the user presses Start), sends it
    commands, streams its events into the jobs, and starts a fresh one when it ends or dies. A death is
    reported to the jobs it was running, in one line, with the last lines of its stderr."""

    sig_process_started = Signal(int)  # pid
    sig_process_died = Signal(str)  # how it ended, for the status bar

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.setObjectName("wb-trainer")
        self.process = None
        self._lock = threading.Lock()
        self._jobs: dict[int, ProcessJob] = {}
        self._ids = itertools.count(1)
        self._stop = threading.Event()
        self._recycle = False
        self.restarts = 0

    # -- GUI thread
    # --------------------------------------------------------------------------------------------
    def ensure_started(self) -> None:
        """Spawn the trainer process (or take a parked warm one) and start reading it; at once, no waiting."""
        if self.isRunning():
            return
        with self._lock:
            if self.process is None:
                self.process = _take_process()
        self._stop.clear()
        self.start()

    def submit(self, job: ProcessJob) -> None:
        self.ensure_started()
        with self._lock:
            job.job_id = next(self._ids)
            self._jobs[job.job_id] = job
        # a process already gone fails the job when the reader sees it end (with how it ended)
        self.send(("job", job.job_id, job.name, job.kwargs))

    def send(self, message: tuple) -> None:
        with self._lock:
            process = self.process
        if process is not None:
            process.send(message)

    @property
    def pid(self) -> int | None:
        process = self.process
        return process.pid if process is not None else None

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._jobs)

    @property
    def ready(self) -> bool:
        """The trainer process has imported torch and starts a job at once (sig_process_started says when)."""
        process = self.process
        return process is not None and process.ready

    def shutdown(self, timeout_s: float = SHUTDOWN_S) -> None:
        """Stop reading and close the process: parked for the next window when idle and KEEP_WARM, else asked
        to exit (jobs stop and save a checkpoint) and killed when it does not within `timeout_s`."""
        from workbench.core.trainer_process import WRITING_JOBS

        deadline = time.monotonic() + timeout_s
        self._stop.set()
        self.wait(max(0, int((deadline - time.monotonic()) * 1000)))
        with self._lock:
            process, self.process = self.process, None
            jobs, self._jobs = list(self._jobs.values()), {}
        if process is not None:
            if KEEP_WARM and not jobs and process.alive():
                _POOL.append(process)
            elif any(job.name in WRITING_JOBS for job in jobs):
                process.close(max(0.1, deadline - time.monotonic()))  # they stop, save and clean up
            else:  # nothing to save: at once (a process still importing torch would not read "exit" for seconds)
                process.kill()
                process.dispose()
        for job in jobs:
            job._end(JobError("the window closed before the job finished"))

    # -- the reader thread
    # -------------------------------------------------------------------------------------
    def run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                process = self.process
            if process is None:
                return
            try:
                message = process.receive(0.1)
            except EOFError:
                self._on_process_ended(process)
                continue
            if message is not None:
                self._dispatch(message)
            if self._recycle:
                self._recycle_process(process)

    def _dispatch(self, message: tuple) -> None:
        kind = message[0]
        if kind == "ready":
            self.sig_process_started.emit(message[1])
            return
        with self._lock:
            job = self._jobs.get(message[1])
        if job is None:
            return
        if kind == "events":
            job._push(message[2])
        elif kind == "done":
            with self._lock:
                self._jobs.pop(job.job_id, None)
                # CUDA memory goes back to the GPU reliably only with the process: start a fresh one
                self._recycle = self._recycle or (job.device.startswith("cuda") and not self._jobs)
            error = message[2]
            job._end(
                None
                if error is None
                else JobError(error["message"], error.get("details"), bool(error.get("user_error")))
            )

    def _on_process_ended(self, process) -> None:
        how = process.how_it_ended()
        tail = process.stderr_tail()
        process.dispose()
        with self._lock:
            jobs, self._jobs = list(self._jobs.values()), {}
            self.process = None if self._stop.is_set() else _spawn()
            self.restarts += 0 if self._stop.is_set() else 1
        for job in jobs:
            where = f" at step {job.last_step:,}" if job.last_step else ""
            job._end(JobError(f"the trainer process ended with {how}{where}", tail or None, crashed=True))
        self.sig_process_died.emit(how)

    def _recycle_process(self, process) -> None:
        self._recycle = False
        with self._lock:
            if self._jobs:
                return
            self.process = _spawn()
        process.close()


def _spawn():
    from workbench.core.trainer_process import TrainerProcess

    return TrainerProcess()


def _take_process():
    while _POOL:
        process = _POOL.pop()
        if process.alive():
            return process
        process.dispose()
    return _spawn()


def close_pool() -> None:
    """End the parked trainer processes (the end of a test session)."""
    while _POOL:
        _POOL.pop().close()


def pooled_pids() -> set[int]:
    return {p.pid for p in _POOL}


# -- the runner: one job per kind, one shutdown policy
# ---------------------------------------------------------
class JobRunner(QObject):
    """Owns the GUI's jobs and the trainer process host."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.host = TrainerHost(self)
        self._jobs: dict[str, Job] = {}  # the current job of each kind
        self._live: list[Job] = []  # every job whose work has not ended (cancelled ones included)
        self.closing = False
        _RUNNERS.append(self)
        app = QCoreApplication.instance()
        if app is not None:  # a window that never closed (a preview, a script) still ends its jobs
            app.aboutToQuit.connect(self.shutdown)

    def current(self, kind: str) -> Job | None:
        """The running job of `kind` (a cancelled one no longer counts)."""
        job = self._jobs.get(kind)
        return job if job is not None and not job.ended and not job.cancelled else None

    def start(self, job: Job, if_busy: str = "cancel") -> bool:
        """Start `job`; the running job of its kind is cancelled first, or `job` is refused (`if_busy`)."""
        if self.closing:
            return False
        previous = self.current(job.kind)
        if previous is not None:
            if if_busy == "refuse":
                return False
            previous.cancel()
        if job.parent() is None:
            job.setParent(self)
        self._jobs[job.kind] = job
        self._live.append(job)
        job._sig_ended.connect(lambda _error, j=job: self._on_job_ended(j))  # after the job's own slot
        job.start()
        return True

    def process_job(self, kind: str, name: str, interval_ms: int = DRAIN_MS, **kwargs) -> ProcessJob:
        return ProcessJob(kind, self.host, name, kwargs, interval_ms)

    def warm_up(self) -> None:
        """Start the trainer process now (torch imports there while the user looks around)."""
        if not self.closing:
            self.host.ensure_started()

    def _on_job_ended(self, job: Job) -> None:
        """Done or cancelled, a job is freed once its work has ended (a QThread must never die running)."""
        if self._jobs.get(job.kind) is job:
            del self._jobs[job.kind]
        if job in self._live:
            self._live.remove(job)
        job.deleteLater()

    def shutdown(self, timeout_s: float = SHUTDOWN_S) -> None:
        """Every job stops (training saves a checkpoint); returns within `timeout_s`; nothing is left running
        except threads stuck in a step, which are kept alive (see the module docstring)."""
        if self.closing:
            return
        self.closing = True
        if self in _RUNNERS:
            _RUNNERS.remove(self)
        deadline = time.monotonic() + timeout_s
        jobs = [job for job in self._live if job.running]
        for job in jobs:
            job.command("stop")
            job.cancelled = True
        for job in jobs:
            if isinstance(job, ThreadJob) and not job.wait(max(0.0, deadline - time.monotonic() - 0.3)):
                job.thread.setParent(None)
                job.setParent(None)
                _ABANDONED.append(job)
        self.host.shutdown(max(0.3, deadline - time.monotonic()))
        self._jobs.clear()
        self._live.clear()


def shutdown_all() -> None:
    """Shut down every JobRunner still open (the end of a test)."""
    for runner in list(_RUNNERS):
        runner.shutdown()


def abandoned_threads_running() -> bool:
    """True when a stuck job thread still runs: the app must leave with os._exit (see workbench.app)."""
    return any(job.thread.isRunning() for job in _ABANDONED)
