"""The job protocol: every background task of the GUI, typed. Qt-free (the trainer process and the GUI share it).

A job is a core generator function that yields events (frozen dataclasses or tuples of plain data, never tensors).
`JOBS` is the one table of jobs: name -> `JobDef` (where its function lives, where it runs, whether it writes
files). To add a job, write `def my_job(control, **kwargs) -> Iterator[event]` anywhere in the core and add one
line to `JOBS` (or call `register_job`); the GUI starts it with `JobRunner.submit("kind", "my_job", **kwargs)`.

Messages across the trainer process's pipes (all plain picklable dataclasses):
    GUI -> trainer    Submit(job_id, name, target, kwargs)   run target(control, **kwargs) on a thread there
                      Control(job_id, action, argument)     Action: pause | resume | stop | stop_after_epoch | cancel
                      Exit(grace_s)                         stop every job (checkpoints saved, no final
                                                            evaluation) and exit within grace_s: exit code 0
                                                            when every job ended in time, else STOP_TIMED_OUT
    trainer -> GUI    Heartbeat()                           every HEARTBEAT_S from a thread of its own, from
                                                            start-up on (a silent trainer is stopped or hung)
                      Ready(pid, versions)                  torch and the jobs' modules are imported (warm)
                      Events(job_id, events)                the generator's events, in order, none dropped
                      Done(job_id, error)                   once per job, last; error None or a JobError

A failure is a `JobError`: an `ErrorKind` (bad input, out of memory, crash, cancelled, bug), one line for the
user and optional details (a traceback, the trainer's stderr tail). The GUI turns each kind into one dialog or
status line (workbench.ui.jobs.describe).
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


class Placement(enum.Enum):
    """Where a job runs: the trainer process (torch work; the default), a thread of the GUI process (work on
    something registered only there), or the GUI thread itself (a few milliseconds, no waiting)."""

    TRAINER = "trainer process"
    THREAD = "thread"
    GUI = "GUI thread"


class ErrorKind(enum.Enum):
    BAD_INPUT = "bad input"  # a UserError: the message says what to change
    OUT_OF_MEMORY = "out of memory"  # host or device memory ran out
    CRASH = "crash"  # the trainer process died (signal, abort, OOM killer) or could not start
    CANCELLED = "cancelled"  # the user (or a newer job of the same kind) cancelled it
    BUG = "bug"  # any other exception: a traceback to report


class Action(enum.StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    STOP_AFTER_EPOCH = "stop_after_epoch"
    CANCEL = "cancel"


@dataclass(frozen=True)
class JobError:
    kind: ErrorKind
    message: str  # one line for the user
    details: str | None = None  # a traceback, or the last lines of the trainer process's stderr

    @property
    def user_error(self) -> bool:
        return self.kind is ErrorKind.BAD_INPUT

    @property
    def crashed(self) -> bool:
        return self.kind is ErrorKind.CRASH

    @property
    def cancelled(self) -> bool:
        return self.kind is ErrorKind.CANCELLED

    @classmethod
    def from_exception(cls, exc: BaseException) -> JobError:
        import traceback

        from workbench.core.errors import Cancelled, UserError

        if isinstance(exc, UserError):
            return cls(ErrorKind.BAD_INPUT, str(exc))
        if isinstance(exc, Cancelled):
            return cls(ErrorKind.CANCELLED, str(exc) or "cancelled")
        details = "".join(traceback.format_exception(exc))
        if isinstance(exc, MemoryError) or "OutOfMemory" in type(exc).__name__:
            return cls(ErrorKind.OUT_OF_MEMORY, f"out of memory: {exc}".rstrip(": "), details)
        return cls(ErrorKind.BUG, f"{type(exc).__name__}: {exc}", details)


# -- messages
# ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Submit:
    job_id: int
    name: str
    target: str  # "module:function"
    kwargs: dict[str, Any]
    exclusive: bool = False  # JobDef.exclusive


@dataclass(frozen=True)
class Control:
    job_id: int
    action: Action
    argument: Any = None


@dataclass(frozen=True)
class Exit:
    grace_s: float = 1.5  # how long the jobs get to stop and save before the process leaves anyway


HEARTBEAT_S = 0.5  # the trainer process says it is alive this often (workbench.ui.jobs: "not responding")
STOP_NOW = "now"  # Control(STOP, STOP_NOW): stop at the next step boundary with no final evaluation
STOP_TIMED_OUT = 4  # the trainer process's exit code when a job was still running at the end of Exit's grace


@dataclass(frozen=True)
class Heartbeat:
    pass


@dataclass(frozen=True)
class Ready:
    pid: int
    versions: dict[str, Any] = field(default_factory=dict)  # torch, CUDA, devices: Help > About reads these


@dataclass(frozen=True)
class Events:
    job_id: int
    events: list


@dataclass(frozen=True)
class Done:
    job_id: int
    error: JobError | None = None


# -- the job table
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobDef:
    target: str  # "module:function"; the function is called as function(control, **kwargs)
    placement: Placement = Placement.TRAINER
    writes: bool = False  # closing the window asks it to stop and save (others are just ended)
    heavy: bool = False  # after it, freed memory is handed back to the OS
    # runs alone in the trainer process (it waits for the running jobs, later ones wait for it): a job that
    # changes process-wide state, e.g. torch's global module hooks (MemTracker), which would break a training
    exclusive: bool = False

    def function(self) -> Callable[..., Iterator[Any]]:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


_TP = "workbench.core.trainer_process"
JOBS: dict[str, JobDef] = {
    "train": JobDef(f"{_TP}:train_job", writes=True, heavy=True),
    "evaluate": JobDef(f"{_TP}:evaluate_job", writes=True, heavy=True),
    "prepare": JobDef(f"{_TP}:prepare_job"),
    "load_data": JobDef(f"{_TP}:load_data_job", heavy=True),
    "analyse": JobDef(f"{_TP}:analyse_job"),
    "export": JobDef(f"{_TP}:export_job", writes=True, heavy=True),
    "generate": JobDef("workbench.core.training.generation:generate_job"),
    "augment_preview": JobDef(f"{_TP}:augment_preview_job"),
    # the traced memory plan (fit.py); exclusive: MemTracker's module hooks are global to the process
    "memory": JobDef("workbench.core.hardware.fit:memory_plan_job", exclusive=True),
    # File > New project from a model: the data read, the model imported (a module runs once, its graph written)
    "new_from_model": JobDef("workbench.core.model.pretrained_spec:new_project_job", writes=True, heavy=True),
    "import_module": JobDef("workbench.core.model.pretrained_spec:import_module_job", writes=True),
    # the Runs tab's overlays: the ticked runs' metrics read into numpy arrays off the GUI thread
    "overlay_curves": JobDef(
        "workbench.core.training.run_curves:overlay_curves_job", placement=Placement.THREAD
    ),
}


def register_job(name: str, definition: JobDef, replace: bool = False) -> JobDef:
    """Add a job to the table (a plugin, or a test's own jobs); a second one of the same name is refused."""
    if name in JOBS and not replace:
        raise ValueError(f"a job named {name!r} is already registered")
    JOBS[name] = definition
    return definition


def job_def(name: str) -> JobDef:
    try:
        return JOBS[name]
    except KeyError:
        raise KeyError(f"no job named {name!r}; known: {', '.join(sorted(JOBS))}") from None


def placement_of_item(registry, name: str) -> Placement:
    """Work on a registered item (a layer type, a data source, an exporter) runs in the trainer process, which
    loads the same built-ins and plugins at start-up; an item registered only in this process (a script or a
    test registering it with `only_here=True`) runs on a thread here."""
    return Placement.THREAD if registry.only_here(name) else Placement.TRAINER
