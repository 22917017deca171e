"""torch Datasets for data too large to hold in memory (imported only by functions: it imports torch)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


class StreamingImageDataset(Dataset):
    """Decodes one image per item from disk and normalizes it like the in-memory path: (raw / scale - mean) / std.

    `read(i)` must be picklable (a module-level class) so DataLoader worker processes can use it.
    """

    def __init__(
        self,
        read,
        indices: np.ndarray,
        y: np.ndarray,
        scale: float,
        mean: list[float] | None,
        std: list[float] | None,
    ):
        self.read = read
        self.indices = np.asarray(indices, dtype=np.int64)
        self.y = torch.as_tensor(np.asarray(y)[self.indices])
        self.scale = float(scale)
        self.mean = None if mean is None else torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = None if std is None else torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        x = torch.from_numpy(np.ascontiguousarray(self.read(int(self.indices[i])))).float() / self.scale
        if self.mean is not None:
            assert self.std is not None  # mean and std are given together (the train split's statistics)
            x = (x - self.mean) / self.std
        return x, self.y[i]
