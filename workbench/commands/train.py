"""`workbench train PROJECT ...` (docs/contract.md section 3): headless training into the project's runs/ folder.

A progress bar on a terminal, plain lines otherwise, one JSON event per line with --json-lines. SIGINT (Ctrl-C)
and SIGTERM (a scheduler, `kill`, `docker stop`) mean Stop: the current step ends, the checkpoint and
summary.json (status stopped) are written, the run's `.lock` is removed, and the process exits 130 (SIGINT) or
143 (SIGTERM) with one line on stderr that says where to resume from. A second signal, or a step that has not
ended STOP_GRACE_S after the first, exits at once (128 + the signal) and leaves the run interrupted, resumable from
its last checkpoint. Exit 0 when the run completed or was stopped otherwise (early stopping); 2 when it failed for a
reason the user can fix (bad settings, a non-finite loss, out of memory); 1 for a bug. Under torchrun every
rank stops at the same step and exits 0 (torchrun reports the signal itself).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

from workbench.core.errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a project headless; writes a run folder in runs/ beside it",
        description="Train a project's model on its dataset without the GUI. The run folder "
        "(config, metrics, checkpoints, summary) appears in the GUI's run list.",
    )
    p.add_argument("project", metavar="PROJECT", help="the project file (*.wbproj)")
    p.add_argument("--epochs", type=int, help="override the project's number of epochs")
    p.add_argument("--batch-size", type=int, help="override the project's batch size")
    p.add_argument("--lr", type=float, help="override the project's learning rate")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:<index> (default: the project's setting)")
    p.add_argument(
        "--finetune",
        choices=("full", "freeze", "lora"),
        help="full: every weight trains; freeze: an imported model's weights stay fixed, its new head trains; "
        "lora: LoRA adapters (peft) on the default targets (default: the project's setting)",
    )
    p.add_argument("--lora-rank", type=int, metavar="R", help="LoRA rank (default: the project's, 8)")
    p.add_argument(
        "--run-dir", metavar="DIR", help="write the run here instead of runs/<id> beside the project"
    )
    how = p.add_mutually_exclusive_group()
    how.add_argument("--resume", metavar="RUN", help="continue a run folder from its last checkpoint")
    how.add_argument(
        "--fork",
        metavar="RUN[:CHECKPOINT]",
        help="start a new run from a checkpoint of RUN (a run id in the project's runs/ or a run folder; "
        "CHECKPOINT: last (default), best or epoch-N) with this project's settings and the overrides given "
        "here (--lr, --epochs, --batch-size, --finetune); the new run records its parent",
    )
    p.add_argument("--name", help="a name for the run (shown in the GUI's run list)")
    p.add_argument("--json-lines", action="store_true", help="print one JSON event per line on stdout")
    p.set_defaults(func=run_train)


def _configured_project(args):
    from pydantic import ValidationError

    from workbench.core.errors import describe_validation_error
    from workbench.core.project import load_project
    from workbench.core.training.config import TrainingConfig

    project = load_project(args.project)
    overrides = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "device": args.device}
    overrides.update(finetune=getattr(args, "finetune", None), lora_rank=getattr(args, "lora_rank", None))
    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        project.training = TrainingConfig.model_validate({**project.training.model_dump(), **overrides})
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc, "bad training option")) from exc
    return project


def run_train(args) -> int:
    """Trains in this process, or as one rank of a torchrun job (RANK / WORLD_SIZE set: DistributedDataParallel)."""
    from workbench.core.training.distributed import DistEnv

    env = DistEnv.from_environ()
    try:
        return _run_train(args, env)
    except UserError as exc:
        if env is not None and not env.is_main:
            raise UserError(f"rank {env.rank}: {exc}") from None
        raise


def _run_train(args, env) -> int:
    from workbench.core.paths import is_bundled, writable_copy

    if is_bundled(args.project):  # the installation is never written into: train the user's copy, as the GUI
        args.project = str(writable_copy(args.project))
        if env is None or env.is_main:
            print(f"note: training your copy of the bundled project, {args.project}", file=sys.stderr)
    project = _configured_project(args)
    from workbench.core.training.control import TrainingControl

    _check_data_source(project.dataset, args.project)
    if args.run_dir:
        from workbench.core.io import refuse_output_over_inputs

        refuse_output_over_inputs(
            [args.run_dir], [args.project, project.dataset.source, project.dataset.val_source, args.resume]
        )
    control = TrainingControl()
    stops = StopSignals(control)
    if env is None:  # a signal while the data loads stops before anything is written
        stops.install()
    try:
        return _train_with(args, env, project, control, stops)
    finally:
        stops.uninstall()


def _train_with(args, env, project, control, stops: StopSignals) -> int:
    from workbench.core.data import load_dataset
    from workbench.core.project import runs_dir

    fork_from = None
    if getattr(args, "fork", None):
        from workbench.core.training.fork import resolve_fork

        fork_from = resolve_fork(args.fork, runs_dir(args.project))  # exit 2 when the checkpoint is missing
    where = {
        "control": control,
        "runs_root": runs_dir(args.project),
        "run_dir": args.run_dir,
        "resume_from": args.resume,
        "fork_from": fork_from,
        "name": args.name,
        "project_path": Path(args.project).resolve(),
    }
    if env is None:
        from workbench.core.training.checkpoints import clean_before_run
        from workbench.core.training.loop import train
        from workbench.core.training.setup import resolve_device

        resolve_device(project.training.device)  # a bad device fails before the data is loaded
        clean_before_run(where["runs_root"], args.resume)  # what a killed run's checkpoint write left
        data = load_dataset(project.dataset)
        if control.stop_requested:
            sys.stderr.write(f"stopped by {stops.name} before training started; nothing was written\n")
            return 128 + stops.signum
        return _report_events(train(project, data, **where), args, control, stops=stops)
    from workbench.core.training.distributed import plan_device, process_group, train_distributed

    backend, device = plan_device(project.training.device, env)
    with process_group(env, backend, device):
        data = load_dataset(project.dataset)
        events = train_distributed(project, data, env=env, backend=backend, device=device, **where)
        return _report_events(events, args, control, quiet=not env.is_main, distributed=True)


def _check_data_source(dataset, project_path) -> None:
    """A dataset path that does not exist here (a project moved to a server) fails before anything loads."""
    from workbench.core.data import get_source

    if get_source(dataset.kind).path_mode == "none":
        return
    for what, source in (("dataset", dataset.source), ("validation data", dataset.val_source)):
        if source and not Path(source).expanduser().exists():
            raise UserError(
                f"the project's {what} {source} ({dataset.kind}) does not exist on this machine; copy "
                f"the data there or set dataset.source in {project_path}"
            )


STOP_GRACE_S = 30.0  # after SIGTERM / SIGINT: the step in progress and the checkpoint get this long


class StopSignals:
    """SIGTERM and SIGINT mean Stop (see the module docstring): the first asks the loop to stop at the next step
    boundary with no final evaluation and starts a deadline; a second one, or the deadline, exits at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, control, note=None):
        self.control = control
        self.note = note or (lambda text: print(text, file=sys.stderr, flush=True))
        self.signum = 0
        self.previous: dict = {}
        self._deadline: threading.Timer | None = None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread() or self.previous:
            return
        for sig in self.SIGNALS:
            previous = signal.getsignal(sig)
            if (
                previous is not signal.SIG_IGN
            ):  # started with the signal ignored (nohup, `cmd &`): it stays so
                self.previous[sig] = previous
                signal.signal(sig, self._on_signal)

    def uninstall(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}

    def _on_signal(self, signum, _frame) -> None:
        name = signal.Signals(signum).name
        if self.signum:
            self._leave(f"aborted by a second {name}", signum)
        self.signum = signum
        self.note(f"{name}: stopping after this step and saving a checkpoint ({name} again to abort)")
        self.control.stop(final_evaluation=False)
        self._deadline = threading.Timer(
            STOP_GRACE_S, self._leave, (f"the step did not end within {STOP_GRACE_S:g} s of {name}", signum)
        )
        self._deadline.name, self._deadline.daemon = "wb-stop-deadline", True
        self._deadline.start()

    @staticmethod
    def _leave(why: str, signum: int) -> None:
        sys.stderr.write(f"error: {why}; the run is left interrupted (resumable from its last checkpoint)\n")
        sys.stderr.flush()
        os._exit(128 + signum)


def _report_events(
    events, args, control, quiet: bool = False, distributed: bool = False, stops: StopSignals | None = None
) -> int:
    if quiet:
        report = QuietReport()
    elif args.json_lines:
        report = JsonLinesReport()
    elif sys.stderr.isatty():
        report = BarReport()
    else:
        report = PlainReport()
    stops = stops or StopSignals(control)
    stops.note = report.note
    stops.install()
    finished = None
    try:
        for event in events:
            report.event(event)
            if event.kind == "finished":
                finished = event
    finally:
        stops.uninstall()
        report.close()
    if finished is not None and finished.status == "stopped" and stops.signum and not distributed:
        resume = f"; continue with --resume {finished.run_dir}" if finished.checkpoints else ""
        sys.stderr.write(
            f"stopped by {stops.name} at step {finished.steps:,}: checkpoint and summary saved in "
            f"{finished.run_dir}{resume}\n"
        )
        return 128 + stops.signum
    if finished is None or finished.status != "failed":
        return 0
    if finished.cause in ("nan", "oom", "input"):
        raise UserError(f"{finished.message} (run folder: {finished.run_dir})")
    if distributed and _peer_lost(finished.error or finished.message or ""):
        raise UserError(
            f"another process of the distributed job stopped or became unreachable "
            f"({finished.message}); check the other ranks' output, then resume the run (run folder: "
            f"{finished.run_dir})"
        )
    sys.stderr.write(
        f"{finished.error}\nerror: training failed with a bug: {finished.message} "
        f"(run folder: {finished.run_dir})\n"
    )
    return 1


PEER_LOST = (
    "Connection closed by peer",
    "Connection reset by peer",
    "Broken pipe",
    "DistBackendError",
    "NCCL communicator was aborted",
    "Socket Timeout",
    "timed out",
    "Timed out",
    "ProcessGroupGloo",
)


def _peer_lost(text: str) -> bool:
    """The error of a torchrun rank whose peer died: the collective failed, not this process's code."""
    return any(s in text for s in PEER_LOST)


def _fmt(value, pattern: str = "{:.4f}") -> str:
    return "-" if value is None else pattern.format(value)


def _epoch_line(e) -> str:
    parts = [f"epoch {e.epoch}", f"train_loss {_fmt(e.train_loss)}"]
    if e.train_accuracy is not None:
        parts.append(f"train_acc {_fmt(e.train_accuracy)}")
    if e.val_loss is not None:
        parts.append(f"val_loss {_fmt(e.val_loss)}")
    if e.val_accuracy is not None:
        parts.append(f"val_acc {_fmt(e.val_accuracy)}")
    for name in ("train_perplexity", "val_perplexity"):  # a language model
        value = getattr(e, name, None)
        if value is not None:
            parts.append(f"{name.replace('perplexity', 'ppl')} {_fmt(value, '{:.2f}')}")
    parts.append(f"lr {e.lr:.3g}")
    return "  ".join(parts) + ("  *best*" if e.improved else "")


def _finished_line(f) -> str:
    best = f"  best val_acc {f.best_val_accuracy:.4f}" if f.best_val_accuracy is not None else ""
    why = f" ({f.message})" if f.message else ""
    return (
        f"{f.status}{why}: {f.epochs_completed} epoch(s), {f.steps} steps, {f.samples_per_second:.0f} "
        f"samples/s{best}\nrun folder: {f.run_dir}"
    )


class QuietReport:
    """Ranks other than 0 under torchrun: rank 0 reports for the whole job."""

    def note(self, text: str) -> None:
        pass

    def event(self, event) -> None:
        pass

    def close(self) -> None:
        pass


class PlainReport:
    """Lines on stderr for logs and pipes: the start, every epoch, the end."""

    def note(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def event(self, event) -> None:
        kind = event.kind
        if kind == "started":
            self.note(
                f"training on {event.device}: {event.train_samples} samples, {event.batches_per_epoch} "
                f"batches/epoch, epochs {event.first_epoch}..{event.epochs}; run {event.run_dir}"
            )
            for note in event.notes:
                self.note(f"note: {note}")
        elif kind == "epoch":
            self.note(_epoch_line(event))
        elif kind == "evaluation" and event.accuracy is not None:
            self.note(f"{event.split} accuracy {event.accuracy:.4f} on {event.samples} samples")
        elif kind == "finished":
            self.note(_finished_line(event))

    def close(self) -> None:
        pass


class BarReport(PlainReport):
    """A tqdm bar over all steps on a terminal; epoch lines print above it."""

    def __init__(self):
        self.bar = None

    def note(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr)

    def event(self, event) -> None:
        from tqdm import tqdm

        if event.kind == "started":
            total = event.batches_per_epoch * event.epochs
            self.bar = tqdm(
                total=total, initial=event.first_step - 1, unit="batch", dynamic_ncols=True, file=sys.stderr
            )
        elif event.kind == "batch" and self.bar is not None:
            self.bar.update(event.step - self.bar.n)
            if event.batch == event.batches or event.step % 10 == 0:
                self.bar.set_description(f"epoch {event.epoch}", refresh=False)
                self.bar.set_postfix(loss=f"{event.loss:.4f}", lr=f"{event.lr:.3g}", refresh=False)
            return
        elif event.kind == "finished":
            self.close()
        super().event(event)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class JsonLinesReport(PlainReport):
    """One JSON object per event on stdout (the `kind` field says which); notes go to stderr."""

    def event(self, event) -> None:
        from workbench.core.training.events import event_to_dict
        from workbench.core.training.runs import json_safe

        sys.stdout.write(json.dumps(json_safe(event_to_dict(event)), default=str) + "\n")
        sys.stdout.flush()
