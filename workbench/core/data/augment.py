"""Image augmentation as one batched tensor op (`DataBundle.augment`), applied by the trainer to training batches.

Every sample of a batch gets its own random horizontal flip, shift ("random crop" of up to `crop` pixels with
zero padding, which is the mean after normalization) and rotation of up to +-`rotation` degrees, all through a
single `affine_grid` + `grid_sample`, on whatever device the batch lives on. The panel applies the same op to
its preview thumbnails so the user sees what the model will see.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ImageAugment:
    flip: bool = False  # random horizontal flip (p = 0.5)
    crop: int = 0  # random shift of up to this many pixels (pad + random crop)
    rotation: float = 0.0  # random rotation in [-rotation, +rotation] degrees

    @property
    def active(self) -> bool:
        return self.flip or self.crop > 0 or self.rotation > 0

    def describe(self) -> str:
        parts = (
            (["flip"] if self.flip else [])
            + ([f"crop +-{self.crop}px"] if self.crop else [])
            + ([f"rotate +-{self.rotation:g} deg"] if self.rotation else [])
        )
        return ", ".join(parts) or "none"

    def __call__(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """batch: float (N, C, H, W) -> a new tensor of the same shape (the input is not changed)."""
        import torch
        import torch.nn.functional as F

        if not self.active or batch.ndim != 4 or batch.shape[0] == 0:
            return batch
        n, _, h, w = batch.shape
        dev = batch.device

        def uniform(lo: float, hi: float) -> torch.Tensor:
            return (torch.rand(n, generator=generator) * (hi - lo) + lo).to(dev)

        angle = (
            uniform(-self.rotation, self.rotation) * (math.pi / 180.0)
            if self.rotation
            else torch.zeros(n, device=dev)
        )
        sign = (
            torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0).to(dev)
            if self.flip
            else torch.ones(n, device=dev)
        )
        tx = uniform(-self.crop, self.crop) * (2.0 / w) if self.crop else torch.zeros(n, device=dev)
        ty = uniform(-self.crop, self.crop) * (2.0 / h) if self.crop else torch.zeros(n, device=dev)
        if self.crop:  # whole-pixel shifts, like a padded random crop
            tx = torch.round(tx * w / 2.0) * (2.0 / w)
            ty = torch.round(ty * h / 2.0) * (2.0 / h)
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack(
            [torch.stack([cos * sign, -sin, tx], 1), torch.stack([sin * sign, cos, ty], 1)], 1
        )
        grid = F.affine_grid(theta.to(batch.dtype), list(batch.shape), align_corners=False)
        mode = "nearest" if not self.rotation else "bilinear"
        return F.grid_sample(batch, grid, mode=mode, padding_mode="zeros", align_corners=False)


MAX_ROTATION = 180.0  # degrees either way; more is the same rotation again
MAX_CROP = 1024  # pixels of random shift


def _bounded(options: dict, key: str, kind, limit: float):
    from workbench.core.errors import UserError

    value = options.get(key, 0) or 0
    try:
        number = kind(value)
        ok = math.isfinite(float(value)) and 0 <= number <= limit
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise UserError(f"dataset option {key} = {value!r} is out of range; use a number from 0 to {limit:g}")
    return number


def augment_from_options(options: dict) -> ImageAugment | None:
    aug = ImageAugment(
        flip=bool(options.get("augment_flip", False)),
        crop=_bounded(options, "augment_crop", int, MAX_CROP),
        rotation=_bounded(options, "augment_rotation", float, MAX_ROTATION),
    )
    return aug if aug.active else None
