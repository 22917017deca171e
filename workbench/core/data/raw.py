"""RawData: what a source hands to the loader before splitting and normalization.

A source reads files and returns samples in a *raw* form (uint8 images, float feature columns with NaN for
missing values, text strings); the loader then splits them, fits normalization / vocabulary on the train
split only, and materializes tensors (`workbench.core.data.loader`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

IMAGE, TABULAR, TEXT = "image", "tabular", "text"

# Preset split marks (`RawData.preset`): samples a source already assigns (official test set, val folder).
UNASSIGNED, TRAIN, VAL, TEST = -1, 0, 1, 2
SPLIT_NAMES = ("train", "val", "test")


@dataclass
class RawData:
    """Samples as read from the source.

    - image:   `x` uint8 (N, C, H, W), or `x=None` with `read(i) -> uint8 (C, H, W)` for data streamed from disk
               (`shape` then gives (C, H, W));
    - tabular: `x` float32 (N, F), NaN where a value is missing (imputed on the train split later);
    - text:    `texts` list of N strings (tokenized later with a vocabulary fitted on the train split).
    `y` is int64 class indices (classification) or float32 values (regression).
    """

    modality: str
    y: np.ndarray
    class_names: list[str]
    x: np.ndarray | None = None
    texts: list[str] | None = None
    read: Callable[[int], np.ndarray] | None = None
    shape: tuple[int, ...] | None = None
    task: str = "classification"
    paths: list[str] | None = None  # per sample, where it came from (image files)
    preset: np.ndarray | None = None  # int8 per sample: UNASSIGNED / TRAIN / VAL / TEST
    skipped: list[dict[str, str]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    scale: float = 1.0  # raw value that maps to 1.0 (255 for 8-bit images, 16 for digits)

    def __len__(self) -> int:
        return len(self.y)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        if self.shape is not None:
            return tuple(self.shape)
        if self.x is not None:
            return tuple(self.x.shape[1:])
        return ()

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.task == "classification" else 0
