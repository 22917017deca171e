"""The trainer process: a spawned child that runs the core's job generators (training, evaluation, data
preparation) so that the GUI process never shares a GIL with PyTorch work, and so that a crash in a kernel,
an abort or the OOM killer ends this process and not the window.

Qt-free on both sides. The GUI's `workbench.ui.jobs.TrainerHost` (a QThread) drives it through
`TrainerProcess`; the headless CLI does not use it (it runs the same generators in-process).

The protocol (workbench.core.jobs): typed messages over two pipes (`multiprocessing.connection.Connection`):
Submit / Control / Exit in, Ready / Events / Done out; the jobs are the table `workbench.core.jobs.JOBS`.
Events are the core's frozen dataclasses of plain numbers (never tensors), so the GUI never imports torch to
read them; a run of BatchEnd events goes as one BatchEnds (column by column). They are sent in small batches: at
once when the last send is FLUSH_S old, else within FLUSH_S by the flusher thread, so the trainer never waits for
the GUI and a slow step still shows its point at once.

Liveness and stopping:
- A `wb-trainer-heartbeat` thread sends `Heartbeat()` every HEARTBEAT_S from the first moment (before torch is
  imported), beside the job threads: a long step, a checkpoint write or an import does not silence it (they
  release the GIL, or give it up every switch interval); only a stopped (SIGSTOP) or hung process is silent.
- SIGTERM and SIGINT sent to this process mean Stop: every job is asked to stop (training finishes its step,
  writes its checkpoint and summary.json with status stopped, skips the final evaluation), the process waits
  SIGNAL_GRACE_S for them and exits with 128 + the signal's number; a second signal exits at once. The process
  runs in a process group of its own, so Ctrl+C in the terminal that started the GUI reaches only the GUI.
- Exit(grace_s): the same stop, within grace_s; exit code 0 when every job ended in time, STOP_TIMED_OUT when
  one was still in a step (its checkpoint was not written).
- A crash (SIGSEGV, abort) prints faulthandler's report to stderr; `crash_details` keeps its stacks (the crashing
  thread first) for the GUI's Details, without the list of extension modules.
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

from workbench.core.jobs import (
    HEARTBEAT_S,
    JOBS,
    STOP_NOW,
    STOP_TIMED_OUT,
    Action,
    Control,
    Done,
    ErrorKind,
    Events,
    Exit,
    Heartbeat,
    JobError,
    Ready,
    Submit,
)
from workbench.core.training.events import pack_batches

# batch events reach the GUI within 30 ms of being yielded (half a frame: fewer, larger messages)
FLUSH_S = 0.03
EXIT_GRACE_S = 1.5  # on "exit" (or the GUI gone): jobs get this long to stop cleanly (checkpoint saved)
SIGNAL_GRACE_S = 30.0  # on SIGTERM / SIGINT: jobs get this long to finish their step and save
STDERR_TAIL_LINES = 20
STARTUP_FAILED = 3  # the exit code of a trainer process that could not import what it needs
NICE = int(os.environ.get("WORKBENCH_TRAINER_NICE", "10"))


# -- the jobs (trainer side)
# ------------------------------------------------------------------------------------
class JobControl:
    """What the GUI can ask of a running job: the training control, plus cancel for any job."""

    def __init__(self) -> None:
        from workbench.core.training.control import TrainingControl

        self.training = TrainingControl()
        self.cancelled = threading.Event()
        self.emit: Callable[[Any], None] = lambda event: None  # send an event now (e.g. progress)

    def apply(self, action: Action, argument: Any = None) -> None:
        t = self.training
        if action is Action.CANCEL:
            self.cancelled.set()
            t.stop()
        elif action is Action.STOP:
            t.stop(final_evaluation=argument != STOP_NOW)
        elif action is Action.STOP_AFTER_EPOCH:
            t.stop_after_epoch(bool(argument))
        else:
            {Action.PAUSE: t.pause, Action.RESUME: t.resume}[action]()


class DataCache:
    """The last data set loaded here, by its settings: Start does not wait for data the GUI has shown."""

    def __init__(self) -> None:
        self._key: str | None = None
        self._data: Any = None
        self._lock = threading.Lock()

    @staticmethod
    def key(settings) -> str:
        return settings.model_dump_json()

    def get(self, settings) -> Any:
        with self._lock:
            return self._data if self._key == self.key(settings) else None

    def put(self, settings, data) -> None:
        with self._lock:
            self._key, self._data = self.key(settings), data


CACHE = DataCache()


def train_job(
    control: JobControl,
    project: dict,
    runs_root: str | None = None,
    run_dir: str | None = None,
    resume_from: str | None = None,
    project_path: str | None = None,
    fork_from: str | None = None,
) -> Iterator[Any]:
    """A run, or (`resume_from`: a run folder) its continuation, or (`fork_from`: a checkpoint file, see
    training/fork.py resolve_fork) a fork with `project`'s training settings."""
    from workbench.core.project import Project
    from workbench.core.training.checkpoints import clean_before_run
    from workbench.core.training.loop import Trainer

    doc = Project.model_validate(project)
    clean_before_run(runs_root, resume_from)  # what a killed run's checkpoint write left behind
    trainer = Trainer(
        doc,
        CACHE.get(doc.dataset),
        control=control.training,
        runs_root=runs_root,
        run_dir=run_dir,
        resume_from=resume_from,
        name=None,
        project_path=project_path,
        fork_from=fork_from,
    )
    try:
        yield from trainer.run()
    finally:
        if trainer.data is not None:
            CACHE.put(doc.dataset, trainer.data)


def evaluate_job(
    control: JobControl, run_dir: str, split: str = "val", device: str = "auto", dataset: dict | None = None
) -> Iterator[Any]:
    """Yields the Evaluation (plain lists; the GUI draws samples from the data it has loaded itself)."""
    from workbench.core.data.settings import DatasetSettings
    from workbench.core.training.evaluation import evaluation_job
    from workbench.core.training.runs import Run

    if dataset is None:
        dataset = Run(run_dir).config.get("dataset", {})
    settings = DatasetSettings.model_validate(dataset)
    for result, loaded in evaluation_job(run_dir, CACHE.get(settings), split, device, settings):
        CACHE.put(settings, loaded)
        yield result


def prepare_job(control: JobControl, dataset: dict) -> Iterator[Any]:
    """Load a data set into the cache ahead of Start (the GUI sends this when it has loaded the same data)."""
    from workbench.core.data import load_dataset
    from workbench.core.data.settings import DatasetSettings

    settings = DatasetSettings.model_validate(dataset)
    if CACHE.get(settings) is None:
        CACHE.put(settings, load_dataset(settings, None, control.cancelled.is_set))
    yield from ()


def load_data_job(control: JobControl, dataset: dict) -> Iterator[Any]:
    """Load a data set for the GUI to show (and keep it here for training): ("progress", done, total, text)
    events, then ("loaded", bundle, csv preview table), the bundle's arrays as numpy so the GUI never imports
    torch to read them; or ("streamed",) when the data does not fit in memory (the GUI loads it itself)."""
    from workbench.core.data import load_dataset
    from workbench.core.data.settings import DatasetSettings

    settings = DatasetSettings.model_validate(dataset)
    data = load_dataset(
        settings,
        lambda done, total, text: control.emit(("progress", done, total, text)),
        control.cancelled.is_set,
    )
    if control.cancelled.is_set():  # superseded: a newer load's data must stay in the cache
        return
    CACHE.put(settings, data)
    bundle = numpy_bundle(data)
    yield ("loaded", bundle, preview_table(settings)) if bundle is not None else ("streamed",)


GUI_COPY_LIMIT = 512 * 2**20  # a larger in-memory data set is loaded by the GUI itself (not sent over)


def numpy_bundle(data) -> Any:
    """The bundle with numpy arrays instead of tensors (None for streamed or very large data sets)."""
    import dataclasses

    splits, size = {}, 0
    for name in ("train", "val", "test"):
        split = data.split(name)
        if not split.in_memory:
            return None
        x, y = split.x.numpy(), split.y.numpy()
        size += x.nbytes + y.nbytes
        splits[name] = dataclasses.replace(split, dataset=None, x=x, y=y)
    return dataclasses.replace(data, **splits) if size <= GUI_COPY_LIMIT else None


def preview_table(settings) -> Any:
    """The first rows of a CSV as the user wrote them, for the Dataset panel's table."""
    if settings.kind != "csv":
        return None
    from workbench.core.data.csvfile import read_csv
    from workbench.core.errors import UserError

    opts = settings.options
    try:
        return read_csv(
            settings.source,
            opts.get("encoding", "auto"),
            opts.get("delimiter", "auto"),
            bool(opts.get("header", True)),
            max_rows=PREVIEW_ROWS,
        )
    except UserError:
        return None


PREVIEW_ROWS = 300


def analyse_job(control: JobControl, spec: dict, **kwargs: Any) -> Iterator[Any]:
    """The builder's analysis of a spec with torch-backed layers (shapes, params, MACs on the meta device)."""
    from workbench.core.model.analysis import analyze
    from workbench.core.model.spec import ModelSpec

    yield analyze(ModelSpec.model_validate(spec), **kwargs)


def augment_preview_job(control: JobControl, augment: dict, x: Any, seed: int) -> Iterator[Any]:
    """The Dataset panel's augmentation preview: `x` (N, C, H, W, numpy, normalized) through the training
    augmentation (ImageAugment fields), the same random draw for the same seed; yields a numpy array."""
    import numpy as np
    import torch

    from workbench.core.data.augment import ImageAugment

    batch = torch.as_tensor(np.asarray(x, dtype=np.float32))
    yield ImageAugment(**augment)(batch, generator=torch.Generator().manual_seed(seed)).numpy()


def versions() -> dict[str, Any]:
    """What Help > About shows of torch (sent with Ready, so the GUI never imports torch to say it)."""
    import torch

    cuda = torch.cuda.is_available()
    return {  # plain str: torch.__version__ is a TorchVersion, whose unpickling would import torch in the GUI
        "torch": str(torch.__version__),
        "cuda": str(torch.version.cuda) if cuda else None,
        "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "threads": torch.get_num_threads(),
    }


def export_job(control: JobControl, request: dict) -> Iterator[Any]:
    """The export wizard's export (ExportProgress events, then ExportFinished), with the data loaded here."""
    from workbench.core.data.settings import DatasetSettings
    from workbench.core.export.request import ExportRequest, export_events

    dataset = request.get("dataset")
    data = CACHE.get(DatasetSettings.model_validate(dataset)) if dataset is not None else None
    yield from export_events(ExportRequest.from_dict(request, data), control.cancelled)


class Outbox:
    """Thread-safe sending with time-batched events (see the module docstring)."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.lock = threading.Lock()
        self.pending: dict[int, list] = collections.defaultdict(list)
        self.last_send = 0.0
        self.closed = False

    def send(self, message: Ready | Done | Heartbeat) -> None:
        with self.lock:
            self._send(message)

    def _send(self, message: Ready | Events | Done | Heartbeat) -> None:
        if self.closed:
            return
        try:
            self.conn.send(message)
        except (OSError, ValueError):  # the GUI is gone: the reader thread ends the process
            self.closed = True
        self.last_send = time.monotonic()

    def event(self, job_id: int, event: Any) -> None:
        with self.lock:
            self.pending[job_id].append(event)
            if time.monotonic() - self.last_send >= FLUSH_S or getattr(event, "kind", "batch") != "batch":
                self._flush()

    def flush(self, older_than: float = 0.0) -> None:
        with self.lock:
            if self.pending and time.monotonic() - self.last_send >= older_than:
                self._flush()

    def _flush(self) -> None:
        pending, self.pending = self.pending, collections.defaultdict(list)
        for job_id, events in pending.items():
            self._send(Events(job_id, pack_batches(events)))


class Child:
    """The trainer process's main loop: commands in on the main thread, each job on a thread of its own."""

    def __init__(self, commands: Connection, events: Connection):
        self.commands = commands
        self.outbox = Outbox(events)
        self.jobs: dict[int, tuple[threading.Thread, JobControl]] = {}
        self.exclusive: set[int] = set()  # running jobs that run alone (JobDef.exclusive)
        self.waiting: collections.deque[Submit] = collections.deque()  # behind or before an exclusive job
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.exit_grace_s = EXIT_GRACE_S
        self.signalled = 0  # the stop signal received (SIGTERM / SIGINT), 0 for none

    def start_heartbeat(self) -> None:
        threading.Thread(target=self._heartbeat, name="wb-trainer-heartbeat", daemon=True).start()

    def _heartbeat(self) -> None:
        self.outbox.send(Heartbeat())
        while not self.stopping.wait(HEARTBEAT_S):
            self.outbox.send(Heartbeat())

    def on_stop_signal(self, signum: int, _frame: Any = None) -> None:
        """SIGTERM / SIGINT: stop every job (checkpoint and summary written), then exit 128 + signum; a second
        signal exits at once."""
        if self.signalled:
            os._exit(128 + signum)
        self.signalled = signum
        print(f"trainer process: {signal.Signals(signum).name}: stopping", file=sys.stderr, flush=True)
        threading.Thread(
            target=self._exit, args=(SIGNAL_GRACE_S, 128 + signum), name="wb-trainer-stop", daemon=True
        ).start()

    def serve(self) -> None:
        threading.Thread(target=self._flusher, name="wb-trainer-flush", daemon=True).start()
        while True:
            try:
                message = self.commands.recv()
            except (EOFError, OSError):  # the GUI process is gone
                break
            if isinstance(message, Exit):
                self.exit_grace_s = message.grace_s
                break
            if isinstance(message, Submit):
                with self.lock:
                    self.waiting.append(message)
                self._start_waiting()
            elif isinstance(message, Control):
                self._control(message)
        self._exit(self.exit_grace_s)

    def _control(self, message: Control) -> None:
        with self.lock:
            job = self.jobs.get(message.job_id)
            queued = [s for s in self.waiting if s.job_id == message.job_id]
            if queued and message.action in (Action.CANCEL, Action.STOP):
                self.waiting.remove(queued[0])
        if job is not None:
            job[1].apply(message.action, message.argument)
        elif queued and message.action in (Action.CANCEL, Action.STOP):
            self.outbox.send(
                Done(message.job_id, JobError(ErrorKind.CANCELLED, "cancelled before it started"))
            )

    def _start_waiting(self) -> None:
        """Start the waiting jobs in order; an exclusive job (one that changes process-wide state, e.g. torch's
        global module hooks) starts only when nothing else runs, and nothing starts while one runs (the others
        do not wait behind a waiting one)."""
        with self.lock:
            for submit in list(self.waiting):
                if self.exclusive or (submit.exclusive and self.jobs):
                    continue
                self.waiting.remove(submit)
                if submit.exclusive:
                    self.exclusive.add(submit.job_id)
                self._start(submit)

    def _start(self, submit: Submit) -> None:
        control = JobControl()
        control.emit = lambda event: self.outbox.event(submit.job_id, event)
        thread = threading.Thread(
            target=self._run, args=(submit, control), name=f"wb-job-{submit.name}", daemon=True
        )
        self.jobs[submit.job_id] = (thread, control)
        thread.start()

    def _run(self, submit: Submit, control: JobControl) -> None:
        job_id, error, generator = submit.job_id, None, None
        try:
            module, _, function = submit.target.partition(":")
            generator = getattr(importlib.import_module(module), function)(control, **submit.kwargs)
            for event in generator:
                self.outbox.event(job_id, event)
                if control.cancelled.is_set():
                    break
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI, never lost
            error = JobError.from_exception(exc)
        finally:
            if isinstance(generator, Generator):  # (every job is a generator function)
                try:
                    generator.close()
                except Exception as exc:  # noqa: BLE001
                    error = error or JobError.from_exception(exc)
            if error is None and control.cancelled.is_set():
                error = JobError(ErrorKind.CANCELLED, "cancelled")
            self.outbox.flush()
            self.outbox.send(Done(job_id, error))
            with self.lock:
                self.jobs.pop(job_id, None)
                self.exclusive.discard(job_id)
            heavy = submit.name in JOBS and JOBS[submit.name].heavy
            if heavy:  # (a builder analysis at each edit must not pause a running training)
                _give_memory_back()
            self._start_waiting()

    def _flusher(self) -> None:
        while not self.stopping.wait(FLUSH_S):
            self.outbox.flush(older_than=FLUSH_S)

    def _exit(self, grace_s: float, code: int = 0) -> None:
        """Stop every job (training saves its checkpoint and summary, no final evaluation), wait at most
        `grace_s`, then leave at once: with `code` when every job ended in time, else STOP_TIMED_OUT."""
        with self.lock:
            self.waiting.clear()
            running = list(self.jobs.values())
        for _thread, control in running:
            control.apply(Action.STOP, STOP_NOW)
        deadline = time.monotonic() + grace_s
        for thread, _control in running:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [thread.name for thread, _control in running if thread.is_alive()]
        if stuck:
            print(f"trainer process: {', '.join(stuck)} still in a step after {grace_s:g} s", file=sys.stderr)
        self.stopping.set()
        self.outbox.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(
            STOP_TIMED_OUT if stuck else code
        )  # no teardown: a job stuck in a step must not hold the exit


def _give_memory_back() -> None:
    """After a job: free the CUDA cache and hand freed heap pages back to the OS (glibc)."""
    import gc

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def trainer_threads() -> int:
    """torch's intra-op threads in the GUI's trainer process: every core, as headless training has (the window
    costs the trainer little now: its live view at >= 15 frames a second takes a few % of one core, see
    docs/training.md). Measured side by side on 2 cores (bench/training.py, 2026-12-04): keeping one core free
    cost the sample CNN a third of its speed (GUI-driven 0.67x of headless, one intra-op thread against two)
    and gained the MLP nothing; with every core both reach headless speed within the GUI's share.
    OMP_NUM_THREADS, when set, decides instead."""
    if os.environ.get("OMP_NUM_THREADS", "").strip().isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    return max(1, len(os.sched_getaffinity(0)))


def warm_up() -> None:
    """What Start would otherwise wait for: plugins (plugin layers must build here too), torch, the loop."""
    from workbench.plugins.manager import load_plugins

    load_plugins()
    try:
        import torch
    except Exception as exc:  # a broken install raises anything at import: say which module, and what
        raise ImportError(f"{type(exc).__name__}: {exc}", name="torch") from exc

    torch.set_num_threads(trainer_threads())
    import workbench.core.training.evaluation
    import workbench.core.training.loop  # noqa: F401

    weight = torch.nn.Parameter(torch.zeros(4))  # a first optimizer step imports torch._dynamo (1.7 s here)
    optimizer = torch.optim.Adam([weight])
    (weight * 2.0).sum().backward()
    optimizer.step()


def child_main(argv: list[str]) -> None:
    import faulthandler

    faulthandler.enable()  # a segfault prints the Python stack to stderr (the GUI shows it: crash_details)
    os.nice(NICE)  # the window's frames get a core at once; training takes every idle cycle
    commands = Connection(int(argv[0]), writable=False)
    events = Connection(int(argv[1]), readable=False)
    child = Child(commands, events)
    child.start_heartbeat()  # from now on: silence means stopped or hung (start-up included)
    for sig in (signal.SIGTERM, signal.SIGINT):  # Stop (the GUI's Ctrl+C does not reach this process group)
        signal.signal(sig, child.on_stop_signal)
    try:
        warm_up()
    except Exception as exc:  # noqa: BLE001 - the GUI shows the last stderr line: it says what failed
        traceback.print_exc()
        if isinstance(exc, ImportError) and exc.name:
            line = f"{exc.name} could not be imported: {exc}"
        else:
            line = f"{type(exc).__name__}: {exc}"
        print(line, file=sys.stderr, flush=True)
        os._exit(STARTUP_FAILED)
    child.outbox.send(Ready(os.getpid(), versions()))
    child.serve()


CLOSE_MARGIN_S = 0.3  # of close()'s timeout: what the process needs to exit after its jobs stopped


def crash_details(text: str) -> str:
    """faulthandler's report in `text` (a trainer process's stderr): "Fatal Python error: ...", then the crashing
    thread's stack ("Current thread ... (most recent call first):"), then the other threads' stacks; without the
    list of extension modules, which says nothing about the crash. "" when `text` has no such report."""
    start = text.rfind("Fatal Python error:")
    if start < 0:
        return ""
    lines = text[start:].splitlines()
    blocks: list[list[str]] = []
    for line in lines[1:]:
        if line.startswith(("Current thread ", "Thread ", "Stack (most recent call first)")):
            blocks.append([line])
        elif line.startswith("  File ") and blocks:
            blocks[-1].append(line)
        elif line.startswith(("Extension modules:", "Fatal Python error:")):
            break
    blocks.sort(
        key=lambda block: not block[0].startswith(("Current thread ", "Stack "))
    )  # the crashing one first
    return "\n\n".join([lines[0], *("\n".join(block) for block in blocks)])


# -- the handle (GUI side, Qt-free)
# -----------------------------------------------------------------------------
class TrainerProcess:
    """A running trainer process: send commands, receive messages, see how it ended."""

    def __init__(self) -> None:
        cmd_read, cmd_write = os.pipe()
        ev_read, ev_write = os.pipe()
        # open for the child's lifetime (its stdout and stderr); closed and removed by dispose()
        self._stderr = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="workbench-trainer-", suffix=".log", delete=False
        )
        # -P: the current folder is not put first on sys.path (a numpy.py there must not be imported)
        self.popen = subprocess.Popen(
            [sys.executable, "-P", "-m", "workbench.core.trainer_process", str(cmd_read), str(ev_write)],
            pass_fds=(cmd_read, ev_write),
            stdin=subprocess.DEVNULL,
            stdout=self._stderr,
            stderr=self._stderr,
            close_fds=True,
            process_group=0,  # Ctrl+C in the GUI's terminal is the GUI's; a SIGINT sent here is a Stop
        )
        os.close(cmd_read)
        os.close(ev_write)
        self._commands = Connection(cmd_write, readable=False)
        self._events = Connection(ev_read, writable=False)
        self._send_lock = threading.Lock()
        self.pid = self.popen.pid
        self.ready = False
        self.versions: dict[str, Any] = {}  # from its Ready: torch's version, CUDA, devices (Help > About)

    def send(self, message: Submit | Control | Exit) -> bool:
        """False when the process is gone (its end is reported by `receive`)."""
        with self._send_lock:
            try:
                self._commands.send(message)
                return True
            except (OSError, ValueError):
                return False

    def receive(self, timeout: float | None = None) -> Ready | Events | Done | None:
        """The next message; None when none came within `timeout`. Raises EOFError once the process ended."""
        try:
            if not wait([self._events], timeout):
                return None
            message = self._events.recv()
        except OSError as exc:
            raise EOFError(str(exc)) from exc
        if isinstance(message, Ready):
            self.versions, self.ready = dict(message.versions), True  # versions first: ready means both
        return message

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_ended(self, timeout: float) -> bool:
        try:
            self.popen.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def how_it_ended(self) -> str:
        """ "signal 9 (SIGKILL)", "exit code 1", ... (reaps the process)."""
        code = self.popen.wait()
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = "unknown"
            return f"signal {-code} ({name})"
        return f"exit code {code}"

    def stderr_text(self, limit: int = 256 * 1024) -> str:
        """The end of what the process wrote to stdout and stderr (at most `limit` bytes)."""
        try:
            with open(self._stderr.name, "rb") as fh:
                fh.seek(max(0, os.fstat(fh.fileno()).st_size - limit))
                return fh.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        return "\n".join(self.stderr_text().rstrip().splitlines()[-lines:])

    def crash_report(self) -> str:
        """What the Details of a crash show: faulthandler's stacks when it wrote some, else the stderr tail."""
        text = self.stderr_text()
        return crash_details(text) or "\n".join(text.rstrip().splitlines()[-STDERR_TAIL_LINES:])

    def close(self, timeout: float = EXIT_GRACE_S + 0.5) -> bool:
        """Ask it to exit (jobs stop and save, within `timeout` less a margin for the exit itself), kill it when
        it does not exit within `timeout`, and clean up. True when it exited by itself with every job ended (a
        training job's checkpoint and summary written); False when a job was still in a step, or it was killed."""
        clean = not self.alive() and self.popen.returncode == 0
        if self.alive():
            self.send(Exit(grace_s=max(0.1, timeout - CLOSE_MARGIN_S)))
            clean = self.wait_ended(timeout) and self.popen.returncode == 0
            if not clean:
                self.kill()
        self.dispose()
        return clean

    def kill(self) -> None:
        if self.alive():
            self.popen.kill()
        self.popen.wait()

    def dispose(self) -> None:
        for conn in (self._commands, self._events):
            conn.close()
        self._stderr.close()
        with contextlib.suppress(OSError):
            os.unlink(self._stderr.name)


if __name__ == "__main__":
    child_main(sys.argv[1:])
