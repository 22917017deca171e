"""Batches from a Split: in-memory tensors are indexed on the device with one permutation per epoch (no
DataLoader, no per-sample Python); streamed datasets go through a DataLoader with the same order."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    if t.dtype == torch.float64:
        t = t.float()
    return t.to(device, non_blocking=device.type == "cuda")


class SplitBatches:
    def __init__(
        self,
        split,
        device: torch.device,
        batch_size: int,
        num_workers: int = 0,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        self.split = split
        self.device = device
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.augment = augment
        self.size = len(split)
        self.in_memory = split.in_memory
        if self.in_memory and self.size:
            self.x = to_device(split.x, device)  # once per run: small data lives on the device
            self.y = to_device(split.y, device)
        full, rest = divmod(self.size, batch_size)
        # a trailing batch of one sample is dropped (BatchNorm cannot train on it) unless it is all there is
        self.batches = full + (1 if rest > 1 or (rest == 1 and full == 0) else 0)

    def epoch(self, order: torch.Tensor, skip: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Training batches in `order` (a permutation of sample positions), skipping the first `skip`."""
        bs = self.batch_size
        order = order[skip * bs : self.batches * bs]
        augment = self.augment
        if self.in_memory:
            order = order.to(self.device)
            x, y = self.x, self.y
            for start in range(0, len(order), bs):
                idx = order[start : start + bs]
                xb = x[idx]
                yield (augment(xb) if augment else xb), y[idx]
        else:
            for xb, yb in self._loader(order.tolist()):
                xb, yb = to_device(xb, self.device), to_device(torch.as_tensor(yb), self.device)
                yield (augment(xb) if augment else xb), yb

    def in_order(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Every sample once, in split order (evaluation)."""
        bs = self.batch_size
        if self.in_memory:
            for start in range(0, self.size, bs):
                yield self.x[start : start + bs], self.y[start : start + bs]
        else:
            for xb, yb in self._loader(list(range(self.size))):
                yield to_device(xb, self.device), to_device(torch.as_tensor(yb), self.device)

    def _loader(self, indices: list[int]):
        from torch.utils.data import DataLoader

        # its own generator: a DataLoader draws its workers' base seed from the global RNG at every epoch, which
        # would shift dropout's random stream between a run and its exact resume (training/fork.py)
        generator = torch.Generator().manual_seed(hash(tuple(indices[:8])) & 0xFFFF_FFFF)
        return DataLoader(
            self.split.dataset,
            batch_size=self.batch_size,
            sampler=indices,
            generator=generator,
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
        )
