"""Training settings stored in the project and copied into each run's config.json."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epochs: int = Field(10, ge=1, le=100_000)
    batch_size: int = Field(64, ge=1, le=1_000_000)
    optimizer: Literal["sgd", "adam", "adamw", "rmsprop"] = "adam"
    lr: float = Field(1e-3, gt=0, le=10, allow_inf_nan=False)
    momentum: float = Field(0.9, ge=0, lt=1, allow_inf_nan=False)
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0, le=10, allow_inf_nan=False)
    scheduler: Literal["none", "step", "cosine", "onecycle", "plateau"] = "none"
    step_size: int = Field(10, ge=1, le=1_000_000)  # StepLR: epochs between decays
    gamma: float = Field(
        0.1, gt=0, le=1, allow_inf_nan=False
    )  # StepLR / ReduceLROnPlateau: factor applied to the LR
    plateau_patience: int = Field(
        2, ge=0, le=1_000_000
    )  # ReduceLROnPlateau: epochs without improvement before a cut
    loss: Literal["cross_entropy", "mse"] = "cross_entropy"
    label_smoothing: float = Field(0.0, ge=0, lt=1, allow_inf_nan=False)
    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # bf16 / fp16 autocast on CUDA only
    # memory (workbench/core/memory): one optimizer step over batch_size x grad_accumulation_steps samples, taken
    # batch_size at a time; checkpointing recomputes each block's activations in backward instead of keeping them
    grad_accumulation_steps: int = Field(1, ge=1, le=4096)
    activation_checkpointing: bool = False
    grad_clip: float | None = Field(None, gt=0, allow_inf_nan=False)  # max gradient norm
    seed: int = Field(0, ge=0, le=2**32 - 1)  # torch, numpy and the generated scripts all accept it
    early_stopping: bool = False
    early_stopping_metric: Literal["val_loss", "val_accuracy"] = "val_loss"
    patience: int = Field(5, ge=1, le=1_000_000)
    save_best: bool = True  # checkpoints/best.safetensors when validation improves
    # checkpoints/epoch-N.safetensors (+ optimizer state) after every epoch: fork points (training/fork.py)
    keep_epoch_checkpoints: bool = False
    num_workers: int = Field(0, ge=0, le=64)  # DataLoader workers (streamed datasets only)
    # fine-tuning (workbench/core/training/finetune.py): full, freeze (imported weights fixed, new head trains) or
    # LoRA adapters (peft); `frozen`: module paths whose weights stay fixed (the builder's lock toggles)
    finetune: Literal["full", "freeze", "lora"] = "full"
    frozen: list[str] = Field(default_factory=list)
    lora_rank: int = Field(8, ge=1, le=4096)
    lora_alpha: float = Field(16.0, gt=0, le=100_000, allow_inf_nan=False)
    lora_dropout: float = Field(0.0, ge=0, lt=1, allow_inf_nan=False)
    lora_targets: list[str] = Field(default_factory=list)  # module names; empty: the architecture's defaults
