"""Image transforms on uint8 arrays (N, C, H, W): colour mode and resize, shared by every image source."""

from __future__ import annotations

import numpy as np

from workbench.core.errors import UserError

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as PIL's convert("L")


def parse_size(value) -> tuple[int, int] | None:
    """`resize` option: None / "" / 0 (keep), an int (square), "28x28", "28,28" or [H, W]."""
    if value in (None, "", 0, "0", "none", "None", False):
        return None
    try:
        if isinstance(value, int | float):
            h = w = int(value)
        elif isinstance(value, str):
            parts = [p for p in value.lower().replace("x", ",").replace(" ", ",").split(",") if p]
            h, w = (int(parts[0]), int(parts[0])) if len(parts) == 1 else (int(parts[0]), int(parts[1]))
        else:
            h, w = int(value[0]), int(value[1])
    except (ValueError, IndexError, TypeError):
        raise UserError(f"resize {value!r} is not a size; use e.g. 28 or 32x32 (height x width)") from None
    if not (1 <= h <= 4096 and 1 <= w <= 4096):
        raise UserError(f"resize {h}x{w} is out of range; use 1..4096 pixels per side")
    return h, w


def convert_color(x: np.ndarray, mode: str) -> np.ndarray:
    """`mode`: "auto" (keep), "grayscale" (1 channel) or "rgb" (3 channels)."""
    c = x.shape[1]
    if mode in ("auto", "", None) or (mode == "grayscale" and c == 1) or (mode == "rgb" and c == 3):
        return x
    if mode == "grayscale":
        gray = np.tensordot(
            x[:, :3].astype(np.float32), LUMA[: min(c, 3)] / LUMA[: min(c, 3)].sum(), axes=([1], [0])
        )
        return np.clip(np.rint(gray), 0, 255).astype(x.dtype)[:, None]
    if mode == "rgb":
        return np.repeat(x[:, :1], 3, axis=1) if c == 1 else x[:, :3]
    raise UserError(f"colour mode {mode!r} is unknown; use auto, grayscale or rgb")


def resize_images(x: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Bilinear, antialiased resize of a uint8 batch (N, C, H, W); a no-op when the size already matches."""
    if size is None or tuple(x.shape[2:]) == tuple(size):
        return x
    import torch
    import torch.nn.functional as F

    out = np.empty((x.shape[0], x.shape[1], *size), dtype=x.dtype)
    for start in range(0, len(x), 2048):  # bounded memory for big sets
        chunk = torch.from_numpy(x[start : start + 2048].astype(np.float32))
        res = F.interpolate(chunk, size=size, mode="bilinear", antialias=True, align_corners=False)
        out[start : start + 2048] = res.round_().clamp_(0, 255).numpy().astype(x.dtype)
    return out
