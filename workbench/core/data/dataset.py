"""The hand-off from data to builder and trainer: a Qt-free, loaded dataset with its splits and metadata.

Small data is materialized as tensors (`Split.x`, `Split.y`) so the trainer batches from memory without
DataLoader overhead; large data streams from `Split.dataset` (a torch Dataset) with DataLoader workers.
This module imports no torch at import time (the GUI shows its window before torch has loaded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch.utils.data import Dataset


@dataclass
class DatasetMeta:
    kind: str
    input_shape: tuple[int, ...]           # without the batch dimension, e.g. (1, 8, 8) or (64,) or (seq_len,)
    num_classes: int                       # 0 for regression targets
    class_names: list[str]
    task: str = "classification"           # "classification" | "regression"
    input_dtype: str = "float32"           # "float32", or "int64" for token ids (Embedding models)
    mean: list[float] | None = None        # normalization computed on the train split (per channel / feature)
    std: list[float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # kind-specific facts (vocabulary, columns, ...)


@dataclass
class Split:
    """One split. `x`/`y` are set when materialized in memory (already normalized); `dataset` always works."""

    name: str
    dataset: Dataset
    x: torch.Tensor | None = None
    y: torch.Tensor | None = None
    indices: list[int] | None = None       # positions in the source, for showing samples behind a metric

    def __len__(self) -> int:
        return len(self.y) if self.y is not None else len(self.dataset)  # type: ignore[arg-type]

    @property
    def in_memory(self) -> bool:
        return self.x is not None and self.y is not None


@dataclass
class DataBundle:
    meta: DatasetMeta
    train: Split
    val: Split
    test: Split
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None  # applied to each training batch (images)
    skipped: list[dict[str, str]] = field(default_factory=list)  # [{"path", "reason"}] files left out

    def split(self, name: str) -> Split:
        return {"train": self.train, "val": self.val, "test": self.test}[name]
