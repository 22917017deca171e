"""Runs: one folder per training run in `runs/` beside the project (docs/contract.md section 2).

    runs/<id>/config.json         everything needed to repeat the run (dataset, model, training settings)
    runs/<id>/metrics.jsonl       every batch and every epoch, one JSON object per line, flushed line by line
    runs/<id>/checkpoints/        last.safetensors, best.safetensors (+ optimizer state for resuming)
    runs/<id>/summary.json        status completed | stopped | failed, epochs_completed, best_val_accuracy, ...
    runs/<id>/tokenizer.json      the trained subword tokenizer (bpe text data), `tokenizers` JSON
    runs/<id>/tb/                 TensorBoard event files (tensorboard.py): the same scalars, and the hparams

Run ids are sortable by time and unique. A run being written holds `.lock` (pid@host); a run without a
summary whose writer is gone is shown as interrupted.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import UserError
from workbench.core.io import atomic_write_json, atomic_write_text, read_json

LOCK = ".lock"


def new_run_id(runs_root: Path) -> str:
    """`YYYYmmdd-HHMMSS-micro`: sorts by time; a collision (two runs in the same microsecond) gets a suffix."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    run_id, n = stamp, 1
    while (runs_root / run_id).exists():
        n += 1
        run_id = f"{stamp}-{n}"
    return run_id


def create_run_dir(runs_root: str | os.PathLike | None, run_dir: str | os.PathLike | None = None) -> Path:
    """A fresh run folder: `run_dir` when given (must be empty or new), else a new id under `runs_root`."""
    if run_dir is not None:
        path = Path(run_dir)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise UserError(f"run folder {path} already exists and is not empty; choose a new folder")
    elif runs_root is None:
        raise ValueError("create_run_dir needs runs_root or run_dir")
    else:
        root = Path(runs_root)
        path = root / new_run_id(root)
    try:
        (path / "checkpoints").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create run folder {path}: {exc.strerror or exc}; choose a writable folder"
        ) from exc
    return path


def json_safe(value: Any) -> Any:
    """JSON has no NaN/inf: non-finite numbers are written as null (also inside dicts, lists, tuples)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


class RunWriter:
    """Writes one run folder. Only the main process (rank 0) creates one."""

    def __init__(self, path: Path, config: dict[str, Any]):
        from workbench.core.project_files import FollowedFolder

        self._anchor = FollowedFolder(path)  # the folder moved or renamed while training: written where it is
        self.vanished: str | None = None  # why the summary could not be written (the folder was deleted)
        self._path = path
        self._epoch_results: dict[str, float] = {}  # last/best validation values, added to summary.json
        atomic_write_json(path / "config.json", config)
        tokenizer = ((config.get("dataset_meta") or {}).get("extra") or {}).get("tokenizer_json")
        if tokenizer:  # also in config.json; this file is what tokenizers.Tokenizer.from_file reads
            atomic_write_text(path / "tokenizer.json", tokenizer)
        atomic_write_text(path / LOCK, f"{os.getpid()}@{socket.gethostname()}\n")
        try:
            self._metrics = open(path / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise UserError(f"cannot write {path / 'metrics.jsonl'}: {exc.strerror or exc}") from exc
        self._tb: Any = (
            None  # TensorBoard event files beside (tensorboard.py); never the only copy of anything
        )
        try:
            from workbench.core.training.tensorboard import EventWriter

            self._tb = EventWriter(path)
            self._tb.hparams(config)
        except OSError:
            self._tb = None  # `workbench runs export-tb` writes them later from metrics.jsonl

    @property
    def path(self) -> Path:
        """The run folder where it is now; FolderVanished (a UserError) once it was deleted: nothing is
        re-created at the old path."""
        self._path = self._anchor.current()
        return self._path

    def copy_metrics(self, lines: list[dict[str, Any]]) -> None:
        for line in lines:
            self.write(line)

    def write(self, line: dict[str, Any]) -> None:
        """Append one line (flushed: a killed run loses at most the line being written; readers skip it)."""
        if line.get("kind") == "epoch":
            self._note_epoch(line)
        safe = {k: json_safe(v) for k, v in line.items()}
        try:
            self._metrics.write(json.dumps(safe) + "\n")
            self._metrics.flush()
        except OSError as exc:
            raise UserError(
                f"cannot write {self.path / 'metrics.jsonl'}: {exc.strerror or exc}; free some disk space"
            ) from exc
        if self._tb is not None:
            try:
                self._tb.line(safe)
            except OSError:  # a full disk: metrics.jsonl above is what counts
                self._close_tb()

    def _close_tb(self, status: str | None = None) -> None:
        tb, self._tb = self._tb, None
        if tb is not None:
            with contextlib.suppress(OSError):
                if status is not None:
                    tb.end(status)
            with contextlib.suppress(OSError):
                tb.close()

    def _note_epoch(self, line: dict[str, Any]) -> None:
        """Keep last_val_accuracy, last_val_loss, best_val_loss (best_val_perplexity) for summary.json (the runs
        table reads them there instead of re-reading metrics.jsonl)."""
        for key in ("val_accuracy", "val_loss"):
            value = line.get(key)
            if isinstance(value, int | float) and math.isfinite(value):
                self._epoch_results[f"last_{key}"] = float(value)
        for key in ("val_loss", "val_perplexity"):  # lower is better
            value = line.get(key)
            if isinstance(value, int | float) and math.isfinite(value):
                best = self._epoch_results.get(f"best_{key}")
                self._epoch_results[f"best_{key}"] = float(value) if best is None else min(best, float(value))

    def finish(self, summary: dict[str, Any]) -> None:
        summary = {**summary, **{k: v for k, v in self._epoch_results.items() if k not in summary}}
        for key in ("last_val_accuracy", "last_val_loss", "best_val_loss"):
            summary.setdefault(key, None)
        try:
            self._close_tb(str(summary.get("status")))
            with contextlib.suppress(OSError):  # a full disk: the summary below still says what happened
                self._metrics.close()
        finally:
            from workbench.core.project_files import FolderVanished

            try:
                path = self.path
            except FolderVanished as exc:  # deleted while training: said once, nothing re-created
                self.vanished = str(exc)
            else:
                atomic_write_json(path / "summary.json", json_safe(summary))
                (path / LOCK).unlink(missing_ok=True)
            self._anchor.close()


@dataclass
class RunMetrics:
    """A run's curves as plain lists (every point kept)."""

    steps: list[int] = field(default_factory=list)
    batch_epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)

    def before(self, step: int, epoch: int) -> RunMetrics:
        """The curve up to (not including) `step` and `epoch`: what a resumed run inherited."""
        keep = [i for i, s in enumerate(self.steps) if s < step]
        return RunMetrics(
            [self.steps[i] for i in keep],
            [self.batch_epoch[i] for i in keep],
            [self.loss[i] for i in keep],
            [self.lr[i] for i in keep],
            [self.time[i] for i in keep],
            [e for e in self.epochs if e.get("epoch", 0) < epoch],
        )

    def epoch_series(self, key: str) -> tuple[list[int], list[float]]:
        pairs = [(e["epoch"], e[key]) for e in self.epochs if e.get(key) is not None]
        return [p[0] for p in pairs], [p[1] for p in pairs]


def read_metrics_lines(path: Path) -> list[dict[str, Any]]:
    """metrics.jsonl as dicts; a half-written last line (a killed run) is skipped."""
    import io

    from workbench.core.errors import UserError
    from workbench.core.io import open_regular_file

    lines = []
    try:
        with io.TextIOWrapper(
            open_regular_file(path, "metrics file"), encoding="utf-8", errors="replace"
        ) as fh:
            for raw in fh:
                try:
                    obj = json.loads(raw)
                except (ValueError, RecursionError):  # half a line, or a line no metrics writer makes
                    continue
                if isinstance(obj, dict):
                    lines.append(obj)
    except UserError:  # missing, or not a regular file (never blocks on a FIFO)
        pass
    return lines


class Run:
    """A run folder on disk: read its settings, curves and summary; rename or delete it."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def config(self) -> dict[str, Any]:
        try:
            data = read_json(self.path / "config.json", "run config")
        except UserError:
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def name(self) -> str:
        return self.config.get("name") or self.id

    @property
    def summary(self) -> dict[str, Any] | None:
        path = self.path / "summary.json"
        if not path.exists():
            return None
        try:
            data = read_json(path, "run summary")
        except UserError:
            return None
        return data if isinstance(data, dict) else None

    @property
    def status(self) -> str:
        """completed | stopped | failed from the summary; running while its writer lives; else interrupted;
        resumed when a stopped or interrupted run was continued by another (`resumed_by`)."""
        summary = self.summary
        if summary:
            status = str(summary.get("status", "unknown"))
        else:
            status = "running" if self._writer_alive() else "interrupted"
        if status in ("stopped", "interrupted") and self.resumed_by:
            return "resumed"  # continued by another run (meta.json resumed_by, training/fork.py)
        return status

    @property
    def resumed_by(self) -> str | None:
        """The id of the run that resumed this one, or None."""
        from workbench.core.training.fork import resumed_by

        return resumed_by(self.path)

    def _writer_alive(self) -> bool:
        return writer_alive(self.path)

    def metrics(self) -> RunMetrics:
        out = RunMetrics()
        for line in read_metrics_lines(self.path / "metrics.jsonl"):
            if line.get("kind") == "batch" and line.get("step") is not None:
                out.steps.append(int(line["step"]))
                out.batch_epoch.append(int(line.get("epoch") or 0))
                loss = line.get("loss")
                out.loss.append(float("nan") if loss is None else float(loss))
                out.lr.append(float(line.get("lr") or 0.0))
                out.time.append(float(line.get("time") or 0.0))
            elif line.get("kind") == "epoch":
                out.epochs.append(line)
        return out

    def checkpoint(self, which: str = "last") -> Path | None:
        path = self.path / "checkpoints" / f"{which}.safetensors"
        return path if path.is_file() else None

    def rename(self, name: str) -> None:
        name = name.strip()
        if not name:
            raise UserError("a run name cannot be empty")
        config = self.config
        if not config:
            raise UserError(f"run {self.id} has no readable config.json; it cannot be renamed")
        config["name"] = name
        atomic_write_json(self.path / "config.json", config)

    def delete(self) -> None:
        if self.status == "running":
            raise UserError(f"run {self.name} is still training; stop it before deleting it")
        try:
            shutil.rmtree(self.path)
        except OSError as exc:
            raise UserError(f"cannot delete {self.path}: {exc.strerror or exc}") from exc


def writer_alive(run_path: Path) -> bool:
    """The process named in the run's .lock (pid@host) still lives: the run is being written."""
    from workbench.core.io import read_regular_bytes

    try:  # a regular file only: a FIFO in its place must not block the runs list
        text = read_regular_bytes(run_path / LOCK, "run lock", max_bytes=4096).decode("utf-8", "replace")
        pid_text, _, host = text.strip().partition("@")
        pid = int(pid_text)
    except (OSError, ValueError, UserError):
        return False
    if host != socket.gethostname():
        return True  # another machine's run on a shared folder: trust the lock
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_runs(runs_root: str | os.PathLike | None) -> list[Run]:
    """Runs under `runs_root`, oldest first (ids sort by time). Folders without config.json are not runs."""
    if runs_root is None:
        return []
    root = Path(runs_root)
    if not root.is_dir():
        return []
    return [Run(p) for p in sorted(root.iterdir()) if p.is_dir() and (p / "config.json").is_file()]
