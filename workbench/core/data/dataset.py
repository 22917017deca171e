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
    input_shape: tuple[int, ...]  # without the batch dimension, e.g. (1, 8, 8) or (64,) or (seq_len,)
    num_classes: int  # 0 for regression targets
    class_names: list[str]
    task: str = "classification"  # "classification" | "regression"
    input_dtype: str = "float32"  # "float32", or "int64" for token ids (Embedding models)
    mean: list[float] | None = None  # normalization computed on the train split (per channel / feature)
    std: list[float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # kind-specific facts (vocabulary, columns, ...)


@dataclass
class Split:
    """One split. `x`/`y` are set when materialized in memory (already normalized); `dataset` always works."""

    name: str
    dataset: Dataset
    x: torch.Tensor | None = None
    y: torch.Tensor | None = None
    indices: list[int] | None = None  # positions in the source, for showing samples behind a metric

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
    paths: list[str] | None = None  # per source position (Split.indices), the file a sample came from
    texts: list[str] | None = None  # per source position, the original text (text data sets)

    def split(self, name: str) -> Split:
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    @property
    def modality(self) -> str:
        """ "image", "tabular" or "text"."""
        return self.meta.extra.get("modality", "image" if len(self.meta.input_shape) == 3 else "tabular")

    def sample(self, split: str, i: int):
        """(x, y) of sample `i` of a split, as the model sees it (normalized; no augmentation)."""
        s = self.split(split)
        if s.x is not None and s.y is not None:  # in_memory, spelled out so the types narrow
            return s.x[i], s.y[i]
        return s.dataset[i]

    def source_index(self, split: str, i: int) -> int:
        """Position in the source of sample `i` of a split (the order the source listed its samples in)."""
        s = self.split(split)
        return int(s.indices[i]) if s.indices is not None else int(i)

    def sample_image(self, split: str, i: int):
        """A displayable picture of sample `i` of `split` ("train" / "val" / "test"), as the model sees it
        (after resize / colour mode; normalization undone): numpy uint8, HxW for one channel or HxWx3 for RGB.
        None for data that is not images (use `sample_text`). `i` indexes the split, as in a confusion matrix
        built from that split's predictions."""
        if self.modality != "image":
            return None
        x, _ = self.sample(split, i)
        return self.to_image(x)

    def to_image(self, x):
        """uint8 HxW / HxWx3 from one normalized image tensor (C, H, W): undoes `(raw / scale - mean) / std`."""
        import numpy as np

        arr = np.asarray(x.detach().cpu().float().numpy() if hasattr(x, "detach") else x, dtype=np.float32)
        if self.meta.mean is not None and self.meta.std is not None:
            mean = np.asarray(self.meta.mean, dtype=np.float32).reshape(-1, 1, 1)
            std = np.asarray(self.meta.std, dtype=np.float32).reshape(-1, 1, 1)
            arr = arr * std + mean
        img = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
        return img[0] if img.shape[0] != 3 else np.ascontiguousarray(img.transpose(1, 2, 0))

    def sample_text(self, split: str, i: int) -> str:
        """A one-line description of sample `i` of `split`: the file, the text, or `column=value` pairs."""
        pos = self.source_index(split, i)
        if self.texts is not None:
            return self.texts[pos]
        if self.paths is not None:
            return self.paths[pos]
        if self.modality == "tabular":
            import numpy as np

            x, _ = self.sample(split, i)
            vals = np.asarray(x, dtype=np.float32)
            if self.meta.mean is not None:
                vals = vals * np.asarray(self.meta.std) + np.asarray(self.meta.mean)
            names = self.meta.extra.get("features") or [f"x{k}" for k in range(len(vals))]
            return ", ".join(f"{n}={v:.4g}" for n, v in zip(names, vals, strict=False))
        return f"{split} sample {i} (source position {pos})"

    def label_name(self, y) -> str:
        """The class name of label `y` (or the value, for regression)."""
        y = y.item() if hasattr(y, "item") else y
        if self.meta.task == "classification" and 0 <= int(y) < len(self.meta.class_names):
            return self.meta.class_names[int(y)]
        return f"{float(y):.4g}"
