"""Checkpoints: weights only, as safetensors, with the model spec and dataset facts in the metadata.
Nothing in a checkpoint is executed. A run folder's best (else last) checkpoint can be loaded by path."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from workbench.core.errors import UserError, describe_validation_error
from workbench.core.io import atomic_replace_all, check_regular_file, parse_json_text
from workbench.core.model.spec import ModelSpec

if TYPE_CHECKING:
    import torch

FORMAT = "workbench-checkpoint"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    state_dict: dict[str, torch.Tensor]
    spec: ModelSpec
    meta: dict[str, Any] = field(default_factory=dict)  # dataset meta, epoch, step, metrics, run id ...
    path: Path | None = None

    def build_model(self) -> torch.nn.Module:
        """The model with these weights, in eval mode. A mismatch names the offending tensor."""
        from workbench.core.model.build import build_model

        finetune = self.meta.get("finetune") or {}
        if finetune.get("partial_checkpoints"):  # base weights from their source + what trained, LoRA merged
            from workbench.core.training.finetune import rebuild

            return rebuild(self.spec, self.state_dict, self.meta, self.path).eval()
        model = build_model(self.spec, load_weights=False)  # the checkpoint holds every weight
        load_state_strict(model, self.state_dict, self.path)
        return model.eval()


def save_checkpoint(
    path: str | os.PathLike, model: torch.nn.Module, spec: ModelSpec, meta: dict[str, Any] | None = None
) -> Path:
    """Atomically write `model`'s weights (unwrapped from DDP / compile) with `spec` and `meta`."""
    return checkpoint_writer(path, model, spec, meta)()


def checkpoint_writer(
    path: str | os.PathLike,
    model: torch.nn.Module,
    spec: ModelSpec,
    meta: dict[str, Any] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler_state: dict[str, Any] | None = None,
    keys: set[str] | None = None,
) -> Callable[[], Path]:
    """Copy the weights now; return the function that writes them (the trainer runs it on a background
    thread so training does not wait for the disk). With `optimizer`, its state goes to `<stem>.optim.safetensors`
    as one unit with the weights: both carry the same `state_id`, and resuming refuses a pair whose ids differ
    (e.g. the disk filled up after one of the two was written). `keys`: only these tensors (a fine-tuning run
    keeps what trains; training/finetune.py)."""
    module = getattr(model, "module", model)
    module = getattr(module, "_orig_mod", module)
    tensors = {
        k: v.detach().to("cpu", copy=True).contiguous()
        for k, v in module.state_dict().items()
        if keys is None or k in keys
    }
    meta = dict(meta or {})
    state = None
    if optimizer is not None:
        meta["state_id"] = uuid.uuid4().hex
        state = _training_state_file(optim_path(path), optimizer, scheduler_state, meta["state_id"])
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "model_spec": json.dumps(spec.to_dict()),
        "meta": json.dumps(meta, default=str),
    }
    weights = _safetensors_file(Path(path), tensors, metadata)
    # the pair is one unit: both written first, then renamed back to back (a process killed while it wrote the
    # second file left new weights beside old optimizer state, a pair that resume refuses)
    return _writer(weights) if state is None else _writer(weights, state)


def optim_path(checkpoint: str | os.PathLike) -> Path:
    """Where the optimizer state of a checkpoint lives: `last.safetensors` -> `last.optim.safetensors`."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + ".optim.safetensors")


PendingFile = tuple[
    Path, Callable[[str], None]
]  # a file's path, and the function that writes it to a temp path


def _writer(*files: PendingFile) -> Callable[[], Path]:
    """The function that writes `files` as one unit (io.atomic_replace_all) and returns the first path."""

    def write() -> Path:
        atomic_replace_all(files)
        return files[0][0]

    return write


def _safetensors_file(path: Path, tensors: dict, metadata: dict[str, str]) -> PendingFile:
    def save(tmp: str) -> None:
        from safetensors.torch import save_file

        try:
            save_file(tensors, tmp, metadata=metadata)
        except OSError:
            raise
        except Exception as exc:  # safetensors reports a full disk as SafetensorError("... I/O error ...")
            if "I/O error" in str(exc) or "os error" in str(exc):
                raise UserError(
                    f"cannot write checkpoint {path}: {exc}; free some disk space or choose another folder"
                ) from exc
            raise

    return path, save


def resolve_checkpoint(source: str | os.PathLike) -> Path:
    """A checkpoint file, or a run folder (its best checkpoint, else its last)."""
    source = Path(source)
    if source.is_dir():
        for name in ("best.safetensors", "last.safetensors"):
            candidate = source / "checkpoints" / name
            if candidate.is_file():
                return candidate
        raise UserError(
            f"run folder {source} has no checkpoints/best.safetensors or last.safetensors; "
            "train it first or pass a checkpoint file"
        )
    check_regular_file(source, "checkpoint")  # a FIFO would block the safetensors reader
    return source


def load_checkpoint(source: str | os.PathLike) -> Checkpoint:
    path = resolve_checkpoint(source)
    if path.suffix in (".pt", ".pth"):
        return _load_torch_file(path)
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
            state = {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118 - a safetensors handle, not a dict
    except Exception as exc:  # safetensors raises its own error types for truncated / foreign files
        raise UserError(f"{path} is not a readable safetensors checkpoint ({exc})") from exc
    if "model_spec" not in metadata:
        raise UserError(f"{path} has no model spec in its metadata; it was not written by Workbench")
    try:
        spec = ModelSpec.model_validate(parse_json_text(metadata["model_spec"], f"{path}: the model spec"))
        meta = parse_json_text(metadata.get("meta", "{}"), f"{path}: the metadata")
    except ValidationError as exc:
        raise UserError(f"{path}: {describe_validation_error(exc, 'bad model spec')}") from exc
    except (RecursionError, ValueError) as exc:
        raise UserError(f"{path}: the model spec cannot be read ({str(exc)[:120]})") from None
    if not isinstance(meta, dict):
        raise UserError(
            f"{path}: the checkpoint metadata is a {type(meta).__name__}, not a JSON object; it was "
            "not written by Workbench"
        )
    return Checkpoint(state, spec, meta, path)


def check_resume(checkpoint: Checkpoint, project_path: str | os.PathLike | None, data_meta: Any) -> None:
    """Before a run is resumed: its training position is well formed, it was trained from this project (its
    config.json names the project file) and on data of the same shape, classes and task. One UserError line."""
    meta, path = checkpoint.meta, checkpoint.path
    for key in ("step", "epoch"):
        value = meta.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**53:
            raise UserError(
                f"{path}: the checkpoint's {key} is {value!r}, not a whole number; it cannot be resumed"
            )
    batch, sums = meta.get("batch", 0), meta.get("epoch_sums")
    if (
        not isinstance(batch, int)
        or isinstance(batch, bool)
        or batch < 0
        or (
            sums is not None
            and not (
                isinstance(sums, list) and len(sums) == 3 and all(isinstance(v, int | float) for v in sums)
            )
        )
    ):
        raise UserError(
            f"{path}: the checkpoint's position within its epoch is malformed; it cannot be resumed"
        )
    run = path.parent.parent if path is not None and path.parent.name == "checkpoints" else None
    config_file = run / "config.json" if run is not None else None
    own_runs = (
        project_path is not None
        and run is not None
        and (run.resolve().parent == Path(project_path).resolve().parent / "runs")
    )  # moved with its project: fine
    if project_path is not None and not own_runs and config_file is not None and config_file.is_file():
        from workbench.core.io import read_json

        config = read_json(config_file, "run config")
        trained_from = config.get("project") if isinstance(config, dict) else None
        if isinstance(trained_from, str) and Path(trained_from).resolve() != Path(project_path).resolve():
            raise UserError(
                f"run {run} was trained from the project {trained_from}, not {project_path}; resume "
                "it from its own project, or start a new run"
            )
    facts = meta.get("dataset")
    if not isinstance(facts, dict):
        facts = {}
    now = {
        "input_shape": list(data_meta.input_shape),
        "num_classes": data_meta.num_classes,
        "task": data_meta.task,
    }
    for key, value in now.items():
        if key in facts and facts[key] != value:
            raise UserError(
                f"{path} was trained on data with {key} {facts[key]}, but this project's data has "
                f"{value}; resume it with the data it was trained on, or start a new run"
            )


def _load_torch_file(path: Path) -> Checkpoint:
    """A user's .pt/.pth: tensors only (`weights_only=True`); the spec must sit beside it as spec.json."""
    from workbench.core.io import check_state_dict, load_torch_weights, read_json

    state = check_state_dict(load_torch_weights(path), path)
    spec_path = path.with_name("spec.json")
    try:
        spec = ModelSpec.model_validate(read_json(spec_path, "model spec"))
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc, f"{spec_path} is not a valid model spec")) from exc
    return Checkpoint(state, spec, {}, path)


def load_state_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: Any = None) -> None:
    """load_state_dict with a message that names the first tensor that does not fit."""
    own = model.state_dict()
    where = f" in {source}" if source else ""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing:
        raise UserError(
            f"checkpoint{where} does not match the model: tensor '{missing[0]}' is missing "
            f"({len(missing)} missing in all); was it trained with another spec?"
        )
    if unexpected:
        raise UserError(f"checkpoint{where} does not match the model: unexpected tensor '{unexpected[0]}'")
    for key, value in own.items():
        if tuple(value.shape) != tuple(state[key].shape):
            raise UserError(
                f"checkpoint{where} does not match the model: tensor '{key}' has shape "
                f"{tuple(state[key].shape)}, the model expects {tuple(value.shape)}"
            )
    model.load_state_dict(state)


def save_training_state(
    path: str | os.PathLike, optimizer: torch.optim.Optimizer, scheduler_state: dict[str, Any] | None = None
) -> Path:
    """The optimizer (and scheduler) state for resuming, as safetensors + JSON metadata: no pickle.
    Tensors go in as `state.<param>.<name>`; numbers, param groups and the scheduler state as JSON."""
    return training_state_writer(path, optimizer, scheduler_state)()


def training_state_writer(
    path: str | os.PathLike,
    optimizer: torch.optim.Optimizer,
    scheduler_state: dict[str, Any] | None = None,
    state_id: str | None = None,
) -> Callable[[], Path]:
    """Copy the optimizer state now; return the function that writes it."""
    return _writer(_training_state_file(Path(path), optimizer, scheduler_state, state_id))


def _training_state_file(
    path: Path,
    optimizer: torch.optim.Optimizer,
    scheduler_state: dict[str, Any] | None,
    state_id: str | None,
) -> PendingFile:
    import torch

    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entry in state["state"].items():
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{pid}.{name}"] = value.detach().to("cpu", copy=True).contiguous()
            else:
                scalars.setdefault(str(pid), {})[name] = value
    metadata = {
        "format": f"{FORMAT}-optimizer",
        "format_version": str(FORMAT_VERSION),
        "param_groups": json.dumps(state["param_groups"]),
        "scalars": json.dumps(scalars),
        "scheduler": json.dumps(scheduler_state),
    }
    if state_id is not None:
        metadata["state_id"] = state_id
    return _safetensors_file(path, tensors, metadata)


def load_training_state(
    path: str | os.PathLike, state_id: str | None = None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(optimizer state_dict, scheduler state) written by save_training_state. With `state_id` (from the
    checkpoint's metadata) the file must carry the same id: weights and optimizer state from different saves are
    refused."""
    from safetensors import safe_open

    check_regular_file(path, "optimizer state")
    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
            tensors = {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118 - a safetensors handle, not a dict
        if state_id is not None and metadata.get("state_id") != state_id:
            raise UserError(
                f"{path} does not belong to the checkpoint beside it (they were saved at different "
                "times, e.g. the disk filled up in between); resume from an earlier run, or start "
                "a new one"
            )
        groups = json.loads(metadata["param_groups"])
        scalars = json.loads(metadata.get("scalars", "{}"))
        scheduler = json.loads(metadata.get("scheduler", "null"))
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"{path} is not a readable optimizer state ({exc}); resume from a run trained by this Workbench"
        ) from exc
    state: dict[int, dict[str, Any]] = {}
    try:
        for key, value in tensors.items():
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
        for pid, entry in scalars.items():
            state.setdefault(int(pid), {}).update(entry)
    except (ValueError, TypeError, AttributeError) as exc:
        raise UserError(
            f"{path} is not a readable optimizer state ({exc}); resume from a run trained by this Workbench"
        ) from None
    return {"state": state, "param_groups": groups}, scheduler


# -- what a killed run leaves behind, read and cleaned without torch
# -----------------------------------------------------------
MAX_HEADER_BYTES = 100 << 20  # safetensors' own limit on the JSON header


def checkpoint_step(run_dir: str | os.PathLike, which: str = "last") -> int | None:
    """The training step of a run's `which` checkpoint, read from its safetensors header (plain JSON: no torch,
    no tensors read); None when there is none or it cannot be read."""
    import struct

    path = Path(run_dir) / "checkpoints" / f"{which}.safetensors"
    try:
        with open(path, "rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            if size > MAX_HEADER_BYTES:
                return None
            header = json.loads(fh.read(size))
        meta = json.loads(header["__metadata__"]["meta"])
        return int(meta["step"])
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return None


STALE_TEMP_S = 60.0  # a temp file untouched this long, in a run no live process writes, is left from a kill


def clean_stale_temp_files(run_dir: str | os.PathLike, min_age_s: float = STALE_TEMP_S) -> list[Path]:
    """Remove the hidden temp files of atomic writes (`.<name>.<random>.tmp`, workbench.core.io) that a process
    killed mid-write left in a run folder and its checkpoints/ (a checkpoint's can be as large as the model).
    Only when no live process writes the run (its `.lock`), and only files untouched for `min_age_s` (0: any,
    for a run about to be resumed). Returns what was removed; a file that cannot be removed is left."""
    import time

    from workbench.core.training.runs import LOCK, Run

    run = Path(run_dir)
    if (run / LOCK).exists() and Run(run).status == "running":
        return []
    removed, now = [], time.time()
    for folder in (run, run / "checkpoints"):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if not (name.startswith(".") and name.endswith(".tmp") and name.count(".") >= 3):
                continue
            try:
                if not entry.is_file(follow_symlinks=False) or now - entry.stat().st_mtime < min_age_s:
                    continue
                os.unlink(entry.path)
            except OSError:
                continue
            removed.append(Path(entry.path))
    return removed


def clean_before_run(
    runs_root: str | os.PathLike | None, resume_from: str | os.PathLike | None = None
) -> None:
    """At the start of a run: the temp files a killed run left behind go, in the run being resumed (any age: its
    writer is gone) and in the unfinished runs beside the new one (untouched for STALE_TEMP_S)."""
    if resume_from is not None:
        source = Path(resume_from)
        run = source.parent.parent if source.parent.name == "checkpoints" else source
        if run.is_dir():
            clean_stale_temp_files(run, min_age_s=0.0)
    if runs_root is None:
        return
    try:
        folders = [
            Path(e.path) for e in os.scandir(Path(runs_root)) if not e.name.startswith(".") and e.is_dir()
        ]
    except OSError:
        return
    for run in folders:
        if (run / "config.json").is_file() and not (run / "summary.json").exists():
            clean_stale_temp_files(run)
