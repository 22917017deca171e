"""Forward and backward of one optimizer step, over micro-batches when gradients are accumulated. The trainer
(loop.py) and the memory estimate (core/memory) run this same code, so the estimate traces what training does.

Accumulation: the step's batch (batch_size x steps samples) is cut into `steps` micro-batches; each micro-batch's
mean loss is weighted by its share of the samples, so the summed gradients equal those of the whole batch's mean
loss (exactly, up to float rounding) while only one micro-batch's activations are alive at a time.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import torch


def forward_backward(
    model: torch.nn.Module,
    xb: torch.Tensor,
    yb: torch.Tensor,
    loss_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    steps: int = 1,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    scale: Callable[[torch.Tensor], torch.Tensor] | None = None,
    on_output: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Backward of the batch's mean loss, `steps` micro-batches at a time (the gradients add up in .grad).
    Returns the batch's loss (detached). `scale`: the GradScaler's scale; `on_output(out, y)`: each
    micro-batch's output (detached) and targets after its backward, e.g. to count correct predictions."""
    n = len(xb)
    size = math.ceil(n / max(1, min(steps, n)))
    total: torch.Tensor | None = None
    for start in range(0, n, size):
        x, y = xb[start : start + size], yb[start : start + size]
        with autocast():
            out = model(x)
            loss = loss_of(out, y)
            if size < n:
                loss = loss * (len(x) / n)
        (scale(loss) if scale is not None else loss).backward()
        total = loss.detach() if total is None else total + loss.detach()
        if on_output is not None:
            on_output(out.detach(), y)
        del out, loss  # free this micro-batch's output before the next one's forward
    assert total is not None  # n >= 1
    return total
