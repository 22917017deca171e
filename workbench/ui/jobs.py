"""One background-job abstraction for the whole GUI.

A `Job` is one piece of background work of a *kind* ("train", "evaluate", "export", "data", "analysis",
"hardware"). `JobRunner.job(kind, name, **kwargs)` makes the job `name` of the core's job table
(workbench.core.jobs.JOBS) where its `JobDef` says it runs: in the trainer process (`ProcessJob`, run there by
`TrainerHost`), on a thread of this process (`ThreadJob`: a plain core generator on a QThread) or on the GUI
thread (`GuiJob`). Either way:
- its events reach the GUI thread in order, none dropped, as one list per tick of the job's own clock
  (`interval_ms`; 33 ms = 30 frames a second for the live training view), only when there are new ones;
- `sig_done(None | JobError)` comes once, after the last events (a JobError has a kind: bad input, out of
  memory, crash, cancelled, bug; `describe(error)` is its one line for a status bar or dialog);
- `cancel()` drops every result from then on (no sig_events, no sig_done) and asks the work to stop; the trainer
  process's messages are matched to their job by its id, so a superseded job's late events go nowhere;
- `JobRunner.start(job)` cancels (or refuses, `if_busy="refuse"`) the running job of the same kind;
- `TrainerHost` restarts a trainer process that ends, with backoff (RESTART_BACKOFF_S), at most MAX_STARTS times
  in a row without one reaching Ready; then it gives up (sig_gave_up with the child's stderr tail) until
  `retry()`;
- `JobRunner.shutdown(timeout_s)` is the one shutdown policy: every job is asked to stop, the window waits at most
  `timeout_s` (SHUTDOWN_S by default), the trainer process is closed (asked to exit when a job there writes
  files, killed when it does not exit in time, or at once when there is nothing to save) and a thread that is
  stuck is left behind without ever being destroyed while it runs (`workbench.app` then ends the process with
  os._exit, so Qt never aborts on "QThread: Destroyed while thread is still running").
  It returns a `StopReport` that keeps the close dialog's promise honest:
      report = session.jobs.shutdown(timeout_s)   # blocks at most timeout_s
      report.saved            True: every job that writes files stopped at a step boundary in time (a training
                              run wrote its checkpoint and summary.json, status stopped); False: a step was
                              longer than timeout_s and the trainer process was killed (nothing new written)
      report.run_dir          the training run's folder (None when no run had started)
      report.last_step        the last step the window saw
      report.checkpoint_step  the step of the newest checkpoint on disk (None: none yet)
      report.line()           one line for the user: "Stopped at step 1,200: the checkpoint and summary are
                              saved." or "The step could not be interrupted within 2 s: no checkpoint since
                              step 1,000 (the run resumes from there)."
- Liveness: the trainer process sends a heartbeat every HEARTBEAT_S from a thread of its own; after
  NOT_RESPONDING_S without any message (STARTUP_SILENCE_S before its first), `sig_not_responding(seconds)` says
  so (a stopped or hung process; a long step still beats), `sig_responding()` when it answers again. The user's
  way out: `TrainerHost.wait_longer()` (ask again after WAIT_LONGER_S more) or `end_unresponsive()` (killed; its
  jobs end as crashes, a training run stays resumable from its last checkpoint).

The GUI process never imports torch for this: events are the core's plain frozen dataclasses.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, QTimer, Signal, Slot

from workbench.core.jobs import (
    Action,
    Control,
    Done,
    ErrorKind,
    Events,
    Heartbeat,
    JobError,
    Placement,
    Ready,
    Submit,
    job_def,
)
from workbench.ui.gui_gc import collect_on_gui_thread

SHUTDOWN_S = 1.8  # closing the window: every job and the trainer process end within this
FRAME_MS = 60  # the live training view: at most 16.7 frames a second (>= 15 wanted; a frame costs GUI CPU)
DRAIN_MS = 40  # other jobs deliver their events 25 times a second
MAX_STARTS = 3  # trainer process starts in a row that never reach Ready before the host gives up
RESTART_BACKOFF_S = (0.0, 0.5, 2.0)  # wait before the 1st, 2nd, 3rd start in a row without a Ready
NOT_RESPONDING_S = 6.0  # no message from the trainer process for this long: "not responding"
STARTUP_SILENCE_S = 20.0  # the same before its first message (a loaded machine starts Python slowly)
WAIT_LONGER_S = 30.0  # "Wait": ask again after this much more silence
_ABANDONED: list = []  # stuck QThreads that must outlive their window (never destroyed running)
_RUNNERS: list = []  # open JobRunners (held until shut down: a running QThread is never freed)

__all__ = ["ErrorKind", "Job", "JobError", "JobRunner", "ProcessJob", "StopReport", "ThreadJob", "describe"]


@dataclass(frozen=True)
class StopReport:
    """How `JobRunner.shutdown` ended the jobs that write files (see the module docstring)."""

    saved: bool = True
    run_dir: Path | None = None
    last_step: int = 0
    checkpoint_step: int | None = None
    timeout_s: float = 0.0

    def line(self) -> str:
        if self.run_dir is None:
            return "Stopped." if self.saved else f"The job could not be stopped within {self.timeout_s:g} s."
        if self.saved:
            if self.checkpoint_step is None:
                return "Stopped before the first checkpoint: nothing to resume from."
            return f"Stopped at step {self.checkpoint_step:,}: the checkpoint and summary are saved."
        since = (
            f"no checkpoint since step {self.checkpoint_step:,} (the run resumes from there)"
            if self.checkpoint_step is not None
            else "no checkpoint was written"
        )
        return f"The step could not be interrupted within {self.timeout_s:g} s: {since}."


def describe(error: JobError) -> str:
    """The one line a status bar or a dialog shows for a failed job."""
    return {
        ErrorKind.BAD_INPUT: error.message,
        ErrorKind.OUT_OF_MEMORY: f"{error.message}; try a smaller batch size or model",
        ErrorKind.CRASH: error.message,
        ErrorKind.CANCELLED: "Cancelled",
        ErrorKind.BUG: f"{error.message} (a bug; please report it with the details)",
    }[error.kind]


class Job(QObject):
    sig_events = Signal(list)
    sig_done = Signal(object)  # None | JobError: not after cancel()
    sig_finished = Signal(object)  # always, once, last, when the work has ended (a cancelled job's too)
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
        """An `Action`: pause | resume | stop | stop_after_epoch (training), cancel (any job)."""

    def cancel(self) -> None:
        self.cancelled = True
        self.command(Action.CANCEL)

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
        self.sig_finished.emit(error)


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
            error = JobError.from_exception(exc)
        finally:
            if generator is not None and hasattr(generator, "close"):
                try:
                    generator.close()
                except Exception as exc:  # noqa: BLE001
                    error = error or JobError.from_exception(exc)
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
        action = Action(action)
        if action in (Action.CANCEL, Action.STOP):
            self.stop_flag.set()
        if self.on_command is not None:
            self.on_command(action, argument)

    def wait(self, timeout_s: float) -> bool:
        return self.thread.wait(max(0, int(timeout_s * 1000))) and super().wait(0.1)

    def _on_ended(self, error) -> None:
        self.thread.wait()  # the run() has returned; let the QThread finish before it can be freed
        super()._on_ended(error)


class GuiJob(Job):
    """A job of a few milliseconds (placement GUI): its generator runs on the GUI thread from the event loop."""

    def __init__(self, kind: str, make: Callable[[], Iterator[Any]], parent: QObject | None = None):
        super().__init__(kind, DRAIN_MS, parent)
        self.make = make

    def _begin(self) -> None:
        QTimer.singleShot(0, self._run_here)

    def _run_here(self) -> None:
        error = None
        try:
            if not self.cancelled:
                self._push(list(self.make()))
        except Exception as exc:  # noqa: BLE001 - reported like any job's error
            error = JobError.from_exception(exc)
        self._end(error)


# -- jobs in the trainer process
# ---------------------------------------------------------------------------------
class ProcessJob(Job):
    """`name` is a job of workbench.core.jobs.JOBS; `kwargs` plain data (JSON-like)."""

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
        self.definition = job_def(name)
        self.kwargs = kwargs
        self.job_id = 0
        self.last_step = 0  # the last training step seen: a crash report names it
        self.device = ""
        self.run_dir: Path | None = None  # a training job's run folder (from its "started" event)

    def _begin(self) -> None:
        self.host.submit(self)

    def command(self, action: str, argument: Any = None) -> None:
        if self.job_id and not self.ended:
            self.host.send(Control(self.job_id, Action(action), argument))

    def _push(self, events: list) -> None:
        for event in reversed(events):
            kind = getattr(event, "kind", None)
            if kind in ("batch", "batches"):  # a BatchEnd, or a run of them column by column (BatchEnds)
                self.last_step = event.step if kind == "batch" else event.columns["step"][-1]
                break
        for event in events:
            if getattr(event, "kind", None) == "started":
                self.device = event.device
                self.run_dir = Path(event.run_dir) if event.run_dir else None
        super()._push(events)


class ProcessSupply:
    """Where trainer processes come from and go to: spawned fresh, closed at the end. (The GUI tests substitute
    one that parks an idle process for the next window: tests/qt_fixtures.py.)"""

    def take(self):
        from workbench.core.trainer_process import TrainerProcess

        return TrainerProcess()

    def release(self, process, running: list, timeout_s: float) -> bool:
        """`running`: the JobDefs of the jobs still running there. True when the jobs that write files stopped
        and saved in time (TrainerProcess.close)."""
        if any(definition.writes for definition in running):
            return process.close(timeout_s)  # its jobs stop, save and clean up
        # nothing to save: at once (a process still importing torch would not read Exit for seconds)
        process.kill()
        process.dispose()
        return True


PROCESSES = ProcessSupply()


class TrainerHost(QThread):
    """The QThread that drives the trainer process: starts it (warm before the user presses Start), sends it
    commands, streams its events into the jobs by job id, and restarts it when it ends (see the module
    docstring's restart policy). A death is reported to the jobs it was running, in one line, with the last
    lines of its stderr."""

    sig_process_started = Signal(int)  # pid: the process is Ready
    sig_process_died = Signal(str)  # how it ended, for the status bar
    sig_gave_up = Signal(str, str)  # one line (what failed), the child's stderr tail: offer Retry
    sig_not_responding = Signal(
        float
    )  # seconds without a word from the trainer process (repeated while silent)
    sig_responding = Signal()  # it answers again (or it ended: the usual death handling follows)

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
        self.starts = 0  # processes spawned (the first one included)
        self.failed_starts = 0  # starts in a row that ended before Ready
        self.failure: JobError | None = None  # set when the host gave up: why
        self._versions: dict = {}  # of the last process that was ready
        self.last_heard = time.monotonic()  # the last message from the current process (any kind)
        self.heard_any = False  # the current process has sent anything (start-up gets more patience)
        self.not_responding = False
        self._patience_until = 0.0  # "Wait": no report before this (monotonic)
        self._ended_by_user = False  # end_unresponsive(): the jobs' crash says so
        self._reported = 0  # the whole seconds of silence last reported

    # -- GUI thread
    # --------------------------------------------------------------------------------------------
    def ensure_started(self) -> None:
        """Spawn the trainer process and start reading it; at once, no waiting. Nothing after the host gave up
        (until `retry()`)."""
        if self.isRunning() or self.failure is not None:
            return
        with self._lock:
            if self.process is None:
                self.process = self._spawn()
        self._stop.clear()
        self.start()

    def retry(self) -> None:
        """After the host gave up: try again (MAX_STARTS more starts)."""
        if self.isRunning():
            return
        self.failure, self.failed_starts = None, 0
        self.ensure_started()

    def submit(self, job: ProcessJob) -> None:
        self.ensure_started()
        if self.failure is not None:  # from the event loop: the caller holds the job before it ends
            failure = self.failure
            QTimer.singleShot(0, job, lambda: job._end(failure))
            return
        with self._lock:
            job.job_id = next(self._ids)
            self._jobs[job.job_id] = job
        # a process already gone fails the job when the reader sees it end (with how it ended)
        definition = job.definition
        self.send(Submit(job.job_id, job.name, definition.target, job.kwargs, definition.exclusive))

    def send(self, message: Submit | Control) -> None:
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
    def versions(self) -> dict:
        """torch's version, CUDA, devices: from the Ready of the current process, else of the last one (Help >
        About). A process taken ready (a parked one) brings its own."""
        process = self.process
        if process is not None and process.ready:
            self._versions = process.versions
        return self._versions

    @property
    def ready(self) -> bool:
        """The trainer process has imported torch and starts a job at once (sig_process_started says when)."""
        process = self.process
        return process is not None and process.ready

    def shutdown(self, timeout_s: float = SHUTDOWN_S) -> StopReport:
        """Stop reading and close the process: asked to exit (jobs stop and save a checkpoint) and killed when it
        does not within `timeout_s` when a job there writes files, else ended at once. Says whether the jobs
        that write files stopped and saved in time."""
        deadline = time.monotonic() + timeout_s
        self._stop.set()
        self.wait(max(0, int((deadline - time.monotonic()) * 1000)))
        with self._lock:
            process, self.process = self.process, None
            jobs, self._jobs = list(self._jobs.values()), {}
        saved = True
        if process is not None:
            running = [job.definition for job in jobs]
            saved = PROCESSES.release(process, running, max(0.1, deadline - time.monotonic())) is not False
        for job in jobs:
            job._end(JobError(ErrorKind.CANCELLED, "the window closed before the job finished"))
        training = next((job for job in jobs if job.run_dir is not None), None)
        if training is None:
            return StopReport(saved, timeout_s=timeout_s)
        from workbench.core.training.checkpoints import checkpoint_step

        return StopReport(
            saved, training.run_dir, training.last_step, checkpoint_step(training.run_dir), timeout_s
        )

    def _spawn(self):
        self.starts += 1
        self.last_heard, self.heard_any = time.monotonic(), False
        return PROCESSES.take()

    def silence(self) -> float:
        """Seconds since the trainer process last said anything."""
        return time.monotonic() - self.last_heard

    def wait_longer(self) -> None:
        """The user chose to wait: no new "not responding" report for WAIT_LONGER_S."""
        self._patience_until = time.monotonic() + WAIT_LONGER_S

    def end_unresponsive(self) -> None:
        """The user ended a trainer that does not answer: killed (a stopped process too); its jobs end as crashes
        that say so, a training run stays resumable from its last checkpoint; a fresh process starts."""
        with self._lock:
            process = self.process
        if process is not None and process.alive():
            self._ended_by_user = True
            process.popen.kill()  # the reader thread sees it end and reports it

    def _check_silence(self, process) -> None:
        """Report a silent process once a second while it stays silent (after the patience it is owed)."""
        limit = NOT_RESPONDING_S if self.heard_any else STARTUP_SILENCE_S
        silent = self.silence()
        if silent < limit or time.monotonic() < self._patience_until or not process.alive():
            return
        if not self.not_responding or int(silent) != self._reported:
            self.not_responding, self._reported = True, int(silent)
            self.sig_not_responding.emit(silent)

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
                self.last_heard, self.heard_any = time.monotonic(), True
                if self.not_responding:
                    self.not_responding, self._patience_until = False, 0.0
                    self.sig_responding.emit()
                self._dispatch(message)
            else:
                self._check_silence(process)
            if self._recycle:
                self._recycle_process(process)

    def _dispatch(self, message: Ready | Events | Done | Heartbeat) -> None:
        if isinstance(message, Heartbeat):
            return
        if isinstance(message, Ready):
            self.failed_starts = 0
            self.sig_process_started.emit(message.pid)
            return
        with self._lock:
            job = self._jobs.get(message.job_id)
        if job is None:  # a job that ended here already (the window closed): its late messages go nowhere
            return
        if isinstance(message, Events):
            job._push(message.events)
        elif isinstance(message, Done):
            with self._lock:
                self._jobs.pop(job.job_id, None)
                # CUDA memory goes back to the GPU reliably only with the process: start a fresh one
                self._recycle = self._recycle or (job.device.startswith("cuda") and not self._jobs)
            job._end(message.error)

    def _on_process_ended(self, process) -> None:
        how = process.how_it_ended()
        tail = process.crash_report()
        never_ready = not process.ready
        process.dispose()
        by_user, self._ended_by_user = self._ended_by_user, False
        if self.not_responding:
            self.not_responding, self._patience_until = False, 0.0
            self.sig_responding.emit()
        self.failed_starts += 1 if never_ready and not by_user else 0
        gave_up = never_ready and self.failed_starts >= MAX_STARTS
        if never_ready:
            last = tail.strip().splitlines()[-1] if tail.strip() else f"it ended with {how}"
            error = JobError(ErrorKind.CRASH, f"the trainer process could not start: {last}", tail or None)
        with self._lock:
            jobs, self._jobs = list(self._jobs.values()), {}
            self.process = None
        for job in jobs:
            where = f" at step {job.last_step:,}" if job.last_step else ""
            if by_user:
                resumable = "; the run can be resumed from its last checkpoint" if job.run_dir else ""
                job._end(
                    JobError(
                        ErrorKind.CRASH,
                        f"the trainer process was not responding and was ended{where}{resumable}",
                        tail or None,
                    )
                )
            elif never_ready:
                job._end(error)
            else:
                job._end(
                    JobError(ErrorKind.CRASH, f"the trainer process ended with {how}{where}", tail or None)
                )
        self.sig_process_died.emit(how)
        if self._stop.is_set():
            return
        if gave_up:
            self.failure = error
            self.sig_gave_up.emit(error.message, tail)
            return
        # restart with backoff (a death after a good start restarts at once); the wait ends early on shutdown
        if self._stop.wait(RESTART_BACKOFF_S[min(self.failed_starts, len(RESTART_BACKOFF_S) - 1)]):
            return
        with self._lock:
            self.process = self._spawn()
            self.restarts += 1

    def _recycle_process(self, process) -> None:
        self._recycle = False
        with self._lock:
            if self._jobs:
                return
            self.process = self._spawn()
        process.close()


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
            collect_on_gui_thread(app)  # the job threads never free a widget (ui/gui_gc.py)

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

    def job(self, kind: str, name: str, interval_ms: int = DRAIN_MS, **kwargs) -> Job:
        """The job `name` of workbench.core.jobs.JOBS with `kwargs` (plain data), placed where its JobDef says;
        start it with `start(job)` after connecting its signals."""
        definition = job_def(name)
        if definition.placement is Placement.TRAINER:
            return ProcessJob(kind, self.host, name, kwargs, interval_ms)
        from workbench.core.trainer_process import JobControl

        control = JobControl()
        make = lambda: definition.function()(control, **kwargs)  # noqa: E731
        if definition.placement is Placement.GUI:
            return GuiJob(kind, make)
        job = ThreadJob(
            kind, make, lambda action, argument: control.apply(Action(action), argument), interval_ms
        )
        control.emit = lambda event: job._push([event])
        return job

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

    def shutdown(self, timeout_s: float = SHUTDOWN_S) -> StopReport:
        """Every job stops (training saves a checkpoint); returns within `timeout_s`; nothing is left running
        except threads stuck in a step, which are kept alive (see the module docstring). The StopReport says
        whether the checkpoint was written (a second call reports nothing to stop)."""
        if self.closing:
            return StopReport()
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
        report = self.host.shutdown(max(0.3, deadline - time.monotonic()))
        self._jobs.clear()
        self._live.clear()
        return dataclasses.replace(report, timeout_s=timeout_s)


def shutdown_all() -> None:
    """Shut down every JobRunner still open (the end of a test)."""
    for runner in list(_RUNNERS):
        runner.shutdown()


def abandoned_threads_running() -> bool:
    """True when a stuck job thread still runs: the app must leave with os._exit (see workbench.app)."""
    return any(job.thread.isRunning() for job in _ABANDONED)
