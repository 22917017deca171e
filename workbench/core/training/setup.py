"""Turning TrainingConfig choices into torch objects: device, optimizer, scheduler, loss, autocast.
Imported only by the loop (it imports torch at module level)."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any

import torch

from workbench.core.errors import UserError
from workbench.core.training.config import TrainingConfig


def resolve_device(name: str | None) -> torch.device:
    """auto -> the first CUDA GPU, else the CPU; cuda / cuda:i checked against what exists."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if not match:
        raise UserError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:<index>")
    index = int(match.group(1) or 0)
    if not torch.cuda.is_available():
        raise UserError(
            f"device {name} is not available: this machine has no CUDA GPU that torch can use "
            f"(torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}); use --device cpu"
        )
    count = torch.cuda.device_count()
    if index >= count:
        raise UserError(
            f"device cuda:{index} does not exist: this machine has {count} GPU(s) "
            f"(cuda:0{'' if count == 1 else f' .. cuda:{count - 1}'})"
        )
    return torch.device(f"cuda:{index}")


@dataclass(frozen=True)
class TrainingSetup:
    """What a run trains with, decided once before the model is built (`prepare`)."""

    device: torch.device
    precision: str  # what runs: fp16 / bf16 fall back to fp32 on the CPU, bf16 to fp16
    notes: tuple[str, ...]  # why a choice differs from the settings, for the user
    task: str  # "classification" | "regression" | "language_model" (next-token loss over every position)
    loss_fn: torch.nn.Module
    scaler: torch.amp.GradScaler | None  # fp16 loss scaling


def check_vocabulary(model: torch.nn.Module, meta: Any) -> None:
    """Token data whose ids reach past the model's first embedding table (the tokenizer or vocab_size changed
    after the model was sized) is refused before the run, naming both sizes, instead of failing at the first batch
    with torch's IndexError."""
    vocab = meta.extra.get("vocab_size") if meta.input_dtype == "int64" else None
    table = next(
        (m for m in model.modules() if isinstance(m, torch.nn.Embedding | torch.nn.EmbeddingBag)), None
    )
    if not vocab or table is None or table.num_embeddings >= int(vocab):
        return
    kind = "EmbeddingBag" if isinstance(table, torch.nn.EmbeddingBag) else "Embedding"
    raise UserError(
        f"the data's tokenizer gives {int(vocab):,} token ids but the model's {kind} has "
        f"num_embeddings {table.num_embeddings:,}; set num_embeddings to {int(vocab)} in the builder (or "
        f"vocab_size to {table.num_embeddings} in the dataset options)"
    )


def prepare(config: TrainingConfig, data: Any, device: torch.device) -> TrainingSetup:
    """Check the settings against the data and the device; bad input raises UserError (before any file)."""
    notes = []
    precision = config.precision
    if precision != "fp32" and device.type != "cuda":
        notes.append(f"{precision} mixed precision needs a CUDA GPU; training in fp32 on the CPU")
        precision = "fp32"
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        notes.append("this GPU has no bf16 support; training in fp16 with loss scaling")
        precision = "fp16"
    task = data.meta.task
    if len(data.train) == 0:
        raise UserError("the training split is empty; give the train split a larger share of the data")
    if task == "language_model" and config.loss != "cross_entropy":
        raise UserError(
            "a language model trains with the next-token cross-entropy; set loss to cross_entropy"
        )
    if task == "classification" and config.loss == "cross_entropy" and data.meta.num_classes < 2:
        raise UserError("cross-entropy needs at least 2 classes; check the dataset's target column")
    return TrainingSetup(
        device=device,
        precision=precision,
        notes=tuple(notes),
        task=task,
        loss_fn=make_loss(config, task),
        scaler=torch.amp.GradScaler("cuda") if precision == "fp16" else None,
    )


def make_optimizer(config: TrainingConfig, params) -> torch.optim.Optimizer:
    wd = config.weight_decay
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=wd,
            nesterov=config.nesterov and config.momentum > 0,
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=wd)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=wd)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr, momentum=config.momentum, weight_decay=wd)
    raise UserError(f"unknown optimizer {config.optimizer}")


class Scheduler:
    """One interface over torch's schedulers: `after_batch()` for per-step ones (OneCycle), `after_epoch(metric)`
    for per-epoch ones (StepLR, cosine, ReduceLROnPlateau)."""

    def __init__(self, config: TrainingConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
        sched = torch.optim.lr_scheduler
        self.kind = config.scheduler
        self.impl: Any = None  # the torch scheduler (their classes share no useful base type)
        if self.kind == "step":
            self.impl = sched.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
        elif self.kind == "cosine":
            self.impl = sched.CosineAnnealingLR(optimizer, T_max=config.epochs)
        elif self.kind == "onecycle":
            self.impl = sched.OneCycleLR(
                optimizer, max_lr=config.lr, epochs=config.epochs, steps_per_epoch=max(1, steps_per_epoch)
            )
        elif self.kind == "plateau":
            self.impl = sched.ReduceLROnPlateau(
                optimizer, factor=config.gamma, patience=config.plateau_patience
            )

    def after_batch(self) -> None:
        if self.kind == "onecycle":
            total = self.impl.total_steps
            if self.impl.last_epoch + 1 < total:  # stepping past total_steps raises
                self.impl.step()

    def after_epoch(self, metric: float | None) -> None:
        if self.kind in ("step", "cosine"):
            self.impl.step()
        elif self.kind == "plateau" and metric is not None:
            self.impl.step(metric)

    def state_dict(self) -> dict | None:
        return self.impl.state_dict() if self.impl is not None else None

    def load_state_dict(self, state: dict | None) -> None:
        if self.impl is not None and state:
            self.impl.load_state_dict(state)


def make_loss(config: TrainingConfig, task: str) -> torch.nn.Module:
    if config.loss == "mse" or task == "regression":
        return torch.nn.MSELoss()
    return torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)


def autocast_for(device: torch.device, precision: str):
    """bf16 / fp16 autocast on CUDA; a no-op context elsewhere."""
    if device.type == "cuda" and precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast(device_type="cuda", dtype=dtype)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
