"""Continuing a run: exact resume (the random state a checkpoint carries) and forks (a new run from any
checkpoint of an old one, with changed settings). Qt-free; torch is imported inside the functions.

API (the Runs tab's Fork button, `workbench train --fork`, the trainer job):

    fork_points(run_dir) -> list[ForkPoint]   the checkpoints a run offers: last (the stop checkpoint of a stopped
                                              run), best, epoch-N (training.keep_epoch_checkpoints); each with its
                                              label, path, step and epoch (read from the header: no torch)
    resolve_fork(source, runs_root=None) -> Path
                                              "RUN[:last|best|epoch-N]" (RUN: a run id under runs_root, or a run
                                              folder) or a checkpoint file -> the checkpoint; UserError (one line,
                                              the labels there are) when missing
    Trainer(..., fork_from=<checkpoint path>) / train(..., fork_from=...) / the "train" job's `fork_from` argument
                                              start the fork: the project's training settings are the fork's
                                              (change lr, epochs, batch size, finetune before starting)

A fork's config.json records, at its top level, `parent` (the parent run relative to the runs folder: its id
when they share it), `parent_checkpoint` (last | best | epoch-N), `fork_step`, `fork_epoch` and `lineage`
("fork"); a resumed run the same with `lineage` "resume" (and `resumed_from`, as before). A fork's metrics.jsonl
starts after the fork step (the parent's curve is not copied: the overlay draws it continuing the parent's); a
resumed run copies the parent's lines up to the checkpoint. The parent of a fork is untouched; the parent of a
resume gets `resumed_by: <child id>` in its meta.json and `Run.status` reads 'resumed' (no Resume offered again).

What a fork keeps: the weights; the optimizer state when the checkpoint has it (last, epoch-N) and the optimizer
and fine-tuning method are unchanged, with the new settings' learning rate, weight decay and momentum; the
scheduler's position when no schedule setting changed (scheduler, lr, epochs, batch size, step size, gamma), else
the new schedule starts at the fork. A changed fine-tuning method starts from the parent's merged weights.
A mid-epoch checkpoint forked with another batch size continues the epoch after the samples already seen.

Exact resume: `capture_rng()` goes into every checkpoint's metadata (torch CPU and CUDA, numpy, python
`random`), `restore_rng()` puts it back right before the first batch, so dropout and augmentation draw what the
uninterrupted run drew. (The epoch's sample order is a function of seed and epoch; the DataLoader of a streamed
data set gets its own generator, so it draws nothing from the global one.)
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.errors import UserError

SCHEDULE_KEYS = ("scheduler", "lr", "epochs", "batch_size", "grad_accumulation_steps", "step_size", "gamma")
GROUP_KEYS = ("lr", "initial_lr", "max_lr", "min_lr", "weight_decay", "momentum", "nesterov", "betas", "eps")
LABEL = re.compile(r"^(last|best|epoch-[1-9][0-9]*)$")
RESUMED_BY = "resumed_by"  # the key in a parent run's meta.json


@dataclass(frozen=True)
class ForkPoint:
    label: str  # last | best | epoch-N
    path: Path
    step: int | None
    epoch: int | None
    epoch_complete: bool | None


def _header_meta(path: Path) -> dict[str, Any]:
    """The `meta` JSON of a checkpoint's safetensors header (no torch, no tensors read); {} when unreadable."""
    try:
        with open(path, "rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            if size > 100 << 20:
                return {}
            header = json.loads(fh.read(size))
        meta = json.loads(header["__metadata__"]["meta"])
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return {}
    return meta if isinstance(meta, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def fork_points(run_dir: str | os.PathLike) -> list[ForkPoint]:
    """The checkpoints of a run that a fork can start from: last, best, then epoch-N in epoch order."""
    folder = Path(run_dir) / "checkpoints"
    labels = ["last", "best"]
    if folder.is_dir():
        epochs = [p.stem for p in folder.glob("epoch-*.safetensors") if LABEL.match(p.stem)]
        labels += sorted(epochs, key=lambda s: int(s.split("-")[1]))
    points = []
    for label in labels:
        path = folder / f"{label}.safetensors"
        if path.is_file():
            meta = _header_meta(path)
            complete = meta.get("epoch_complete")
            points.append(
                ForkPoint(
                    label,
                    path,
                    _int(meta.get("step")),
                    _int(meta.get("epoch")),
                    complete if isinstance(complete, bool) else None,
                )
            )
    return points


def resolve_fork(source: str | os.PathLike, runs_root: str | os.PathLike | None = None) -> Path:
    """`RUN[:last|best|epoch-N]` or a checkpoint file -> the checkpoint file (default: last)."""
    text = str(source)
    if text.endswith(".safetensors") and Path(text).is_file():
        return Path(text)
    run_part, label = text, "last"
    head, sep, tail = text.rpartition(":")
    if sep and head and (LABEL.match(tail) or not Path(text).exists()):
        run_part, label = head, tail
    if not LABEL.match(label):
        raise UserError(f"checkpoint '{label}' is not one of last, best or epoch-N (e.g. {run_part}:epoch-3)")
    run = Path(run_part)
    if not run.is_dir() and runs_root is not None and (Path(runs_root) / run_part).is_dir():
        run = Path(runs_root) / run_part
    if not run.is_dir():
        raise UserError(f"no run folder {run_part}; pass a run id from `workbench runs list` or a run folder")
    path = run / "checkpoints" / f"{label}.safetensors"
    if not path.is_file():
        offered = ", ".join(p.label for p in fork_points(run)) or "none"
        raise UserError(
            f"run {run.name} has no '{label}' checkpoint (it has: {offered}); choose one of those"
        )
    return path


def checkpoint_label(path: Path) -> str:
    return path.stem if LABEL.match(path.stem) else path.name


def run_of(checkpoint: Path) -> Path:
    """The run folder a checkpoint file belongs to (`<run>/checkpoints/<label>.safetensors`)."""
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


def relative_ref(parent: Path, runs_root: Path | None) -> str:
    """The parent run as the child's config records it: relative to the child's runs folder (its id when they
    share the folder), never absolute."""
    parent = parent.resolve()
    if runs_root is None:
        return parent.name
    root = runs_root.resolve()
    if parent.parent == root:
        return parent.name
    try:
        return os.path.relpath(parent, root)
    except ValueError:  # another drive (Windows): the id is all that can be said
        return parent.name


def lineage(kind: str, checkpoint: Path, meta: dict[str, Any], runs_root: Path | None) -> dict[str, Any]:
    """The top-level config.json keys of a resumed or forked run."""
    return {
        "lineage": kind,
        "parent": relative_ref(run_of(checkpoint), runs_root),
        "parent_checkpoint": checkpoint_label(checkpoint),
        "fork_step": _int(meta.get("step")),
        "fork_epoch": _int(meta.get("epoch")),
    }


def mark_resumed(parent: Path, child_id: str) -> None:
    """Record on the parent that it was resumed (meta.json `resumed_by`); other meta keys are kept. A parent that
    cannot be written (read-only) is left as it is."""
    from workbench.core.io import atomic_write_json, read_json

    path = parent / "meta.json"
    try:
        doc = read_json(path, "run notes") if path.exists() else {}
    except UserError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    doc[RESUMED_BY] = child_id
    with contextlib.suppress(OSError, UserError):
        atomic_write_json(path, doc)


def resumed_by(run_dir: Path) -> str | None:
    try:
        doc = json.loads((run_dir / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = doc.get(RESUMED_BY) if isinstance(doc, dict) else None
    return value if isinstance(value, str) and value else None


def schedule_changed(parent_training: dict[str, Any] | None, cfg: Any) -> bool:
    if not isinstance(parent_training, dict):
        return True
    now = cfg.model_dump(mode="json")
    return any(parent_training.get(k) != now.get(k) for k in SCHEDULE_KEYS)


def keep_group_settings(optimizer: Any, groups: list[dict[str, Any]]) -> None:
    """Put the fork's own hyperparameters (lr, weight decay, momentum ...) back over loaded optimizer state."""
    for group, fresh in zip(optimizer.param_groups, groups, strict=False):
        for key in GROUP_KEYS:
            if key in fresh:
                group[key] = fresh[key]


# -- random state
# --------------------------------------------------------------------------------------------------------
def rng_snapshot() -> tuple[Any, ...]:
    """The random states as they are now, cheaply (about 10 us: the trainer takes one after every step, since the
    next batch is drawn, and augmented, before a stop request is seen)."""
    import random

    import numpy as np
    import torch

    cuda = (
        tuple(torch.cuda.get_rng_state_all())
        if torch.cuda.is_available() and torch.cuda.is_initialized()
        else ()
    )
    return torch.get_rng_state(), np.random.get_state(), random.getstate(), cuda


def capture_rng(snapshot: tuple[Any, ...] | None = None) -> dict[str, Any]:
    """Every random state training draws from (now, or `snapshot`), as JSON (torch states as base64 bytes)."""

    def b64(t: Any) -> str:
        return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")

    cpu, np_state, py_state, cuda = snapshot if snapshot is not None else rng_snapshot()
    kind, keys, pos, has_gauss, gauss = np_state
    version, internal, gauss_next = py_state
    state: dict[str, Any] = {
        "torch": b64(cpu),
        "numpy": [kind, [int(k) for k in keys], int(pos), int(has_gauss), float(gauss)],
        "python": [version, list(internal), gauss_next],
    }
    if cuda:
        state["cuda"] = [b64(s) for s in cuda]
    return state


def restore_rng(state: Any) -> bool:
    """Put back what capture_rng saved; False (nothing changed) for a checkpoint without it or a malformed one."""
    import random

    import numpy as np
    import torch

    if not isinstance(state, dict) or "torch" not in state:
        return False

    def tensor(text: str) -> torch.Tensor:
        return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8).clone()

    try:
        cpu = tensor(state["torch"])
        kind, keys, pos, has_gauss, gauss = state["numpy"]
        version, internal, gauss_next = state["python"]
        cuda = [tensor(s) for s in state.get("cuda") or []]
        torch.set_rng_state(cpu)
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
        random.setstate((version, tuple(internal), gauss_next))
        if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
    except (ValueError, TypeError, RuntimeError, KeyError):
        return False
    return True


__all__ = [
    "ForkPoint",
    "capture_rng",
    "fork_points",
    "lineage",
    "mark_resumed",
    "resolve_fork",
    "restore_rng",
    "resumed_by",
    "rng_snapshot",
]
