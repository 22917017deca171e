"""Checkpoints: weights only, as safetensors, with the model spec and dataset facts in the metadata.
Nothing in a checkpoint is executed. A run folder's best (else last) checkpoint can be loaded by path."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from workbench.core.errors import UserError, describe_validation_error
from workbench.core.io import atomic_replace_with
from workbench.core.model.spec import ModelSpec

if TYPE_CHECKING:
    import torch

FORMAT = "workbench-checkpoint"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    state_dict: dict[str, torch.Tensor]
    spec: ModelSpec
    meta: dict[str, Any] = field(default_factory=dict)   # dataset meta, epoch, step, metrics, run id ...
    path: Path | None = None

    def build_model(self) -> torch.nn.Module:
        """The model with these weights, in eval mode. A mismatch names the offending tensor."""
        from workbench.core.model.build import build_model

        model = build_model(self.spec, load_weights=False)  # the checkpoint holds every weight
        load_state_strict(model, self.state_dict, self.path)
        return model.eval()


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, spec: ModelSpec,
                    meta: dict[str, Any] | None = None) -> Path:
    """Atomically write `model`'s weights (unwrapped from DDP / compile) with `spec` and `meta`."""
    return checkpoint_writer(path, model, spec, meta)()


def checkpoint_writer(path: str | os.PathLike, model: torch.nn.Module, spec: ModelSpec,
                      meta: dict[str, Any] | None = None) -> Callable[[], Path]:
    """Copy the weights now; return the function that writes them (the trainer runs it on a background
    thread so training does not wait for the disk)."""
    module = getattr(model, "module", model)
    module = getattr(module, "_orig_mod", module)
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in module.state_dict().items()}
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
                "model_spec": json.dumps(spec.to_dict()), "meta": json.dumps(meta or {}, default=str)}
    return _safetensors_writer(Path(path), tensors, metadata)


def _safetensors_writer(path: Path, tensors: dict, metadata: dict[str, str]) -> Callable[[], Path]:
    def write() -> Path:
        from safetensors.torch import save_file

        def save(tmp: str) -> None:
            try:
                save_file(tensors, tmp, metadata=metadata)
            except OSError:
                raise
            except Exception as exc:  # safetensors reports a full disk as SafetensorError("... I/O error ...")
                if "I/O error" in str(exc) or "os error" in str(exc):
                    raise UserError(f"cannot write checkpoint {path}: {exc}; free some disk space or choose "
                                    "another folder") from exc
                raise

        atomic_replace_with(path, save)
        return path

    return write


def resolve_checkpoint(source: str | os.PathLike) -> Path:
    """A checkpoint file, or a run folder (its best checkpoint, else its last)."""
    source = Path(source)
    if source.is_dir():
        for name in ("best.safetensors", "last.safetensors"):
            candidate = source / "checkpoints" / name
            if candidate.is_file():
                return candidate
        raise UserError(f"run folder {source} has no checkpoints/best.safetensors or last.safetensors; "
                        "train it first or pass a checkpoint file")
    if not source.exists():
        raise UserError(f"checkpoint not found: {source}")
    return source


def load_checkpoint(source: str | os.PathLike) -> Checkpoint:
    path = resolve_checkpoint(source)
    if path.suffix in (".pt", ".pth"):
        return _load_torch_file(path)
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
            state = {key: fh.get_tensor(key) for key in fh.keys()}
    except Exception as exc:  # safetensors raises its own error types for truncated / foreign files
        raise UserError(f"{path} is not a readable safetensors checkpoint ({exc})") from exc
    if "model_spec" not in metadata:
        raise UserError(f"{path} has no model spec in its metadata; it was not written by Workbench")
    try:
        spec = ModelSpec.model_validate(json.loads(metadata["model_spec"]))
        meta = json.loads(metadata.get("meta", "{}"))
    except (json.JSONDecodeError, ValidationError) as exc:
        detail = describe_validation_error(exc, "bad model spec") if isinstance(exc, ValidationError) else str(exc)
        raise UserError(f"{path}: {detail}") from exc
    return Checkpoint(state, spec, meta, path)


def _load_torch_file(path: Path) -> Checkpoint:
    """A user's .pt/.pth: tensors only (`weights_only=True`); the spec must sit beside it as spec.json."""
    from workbench.core.io import load_torch_weights, read_json

    state = load_torch_weights(path)
    if not isinstance(state, dict):
        raise UserError(f"{path} holds a {type(state).__name__}, not a state dict of tensors")
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
        raise UserError(f"checkpoint{where} does not match the model: tensor '{missing[0]}' is missing "
                        f"({len(missing)} missing in all); was it trained with another spec?")
    if unexpected:
        raise UserError(f"checkpoint{where} does not match the model: unexpected tensor '{unexpected[0]}'")
    for key, value in own.items():
        if tuple(value.shape) != tuple(state[key].shape):
            raise UserError(f"checkpoint{where} does not match the model: tensor '{key}' has shape "
                            f"{tuple(state[key].shape)}, the model expects {tuple(value.shape)}")
    model.load_state_dict(state)


def save_training_state(path: str | os.PathLike, optimizer: torch.optim.Optimizer,
                        scheduler_state: dict[str, Any] | None = None) -> Path:
    """The optimizer (and scheduler) state for resuming, as safetensors + JSON metadata: no pickle.
    Tensors go in as `state.<param>.<name>`; numbers, param groups and the scheduler state as JSON."""
    return training_state_writer(path, optimizer, scheduler_state)()


def training_state_writer(path: str | os.PathLike, optimizer: torch.optim.Optimizer,
                          scheduler_state: dict[str, Any] | None = None) -> Callable[[], Path]:
    """Copy the optimizer state now; return the function that writes it."""
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
    metadata = {"format": f"{FORMAT}-optimizer", "format_version": str(FORMAT_VERSION),
                "param_groups": json.dumps(state["param_groups"]), "scalars": json.dumps(scalars),
                "scheduler": json.dumps(scheduler_state)}
    return _safetensors_writer(Path(path), tensors, metadata)


def load_training_state(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(optimizer state_dict, scheduler state) written by save_training_state."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
            tensors = {key: fh.get_tensor(key) for key in fh.keys()}
        groups = json.loads(metadata["param_groups"])
        scalars = json.loads(metadata.get("scalars", "{}"))
        scheduler = json.loads(metadata.get("scheduler", "null"))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same problem for the user
        raise UserError(f"{path} is not a readable optimizer state ({exc}); resume from a run trained by "
                        "this Workbench") from exc
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, pid, name = key.split(".", 2)
        state.setdefault(int(pid), {})[name] = value
    for pid, entry in scalars.items():
        state.setdefault(int(pid), {}).update(entry)
    return {"state": state, "param_groups": groups}, scheduler
