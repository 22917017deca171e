"""Activation checkpointing per block (torch.utils.checkpoint): the forward keeps only each segment's input and
recomputes the segment's inside during backward, trading about one extra forward for the activations.

The built model is an `nn.Sequential` of the spec's top-level layers (build.py). Segments: a top-level layer with
sub-modules (a Residual, a Transformer layer, an imported backbone) is a segment of its own; a run of plain
layers between them is cut into segments of about sqrt(run) layers (checkpointing one ReLU alone saves nothing:
its input is kept either way). The module keeps nn.Sequential's children and state-dict keys, so checkpoints,
resume and export see the same model.

Known limit: a BatchNorm inside a checkpointed segment updates its running statistics twice per step (forward
and recomputation), as with torch.utils.checkpoint everywhere; the trained weights are unaffected.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


def block_segments(model: nn.Sequential) -> list[tuple[int, int]]:
    """[(start, stop), ...] covering every child of `model` in order."""
    children = list(model)
    segments: list[tuple[int, int]] = []
    run_start = 0

    def close_run(stop: int) -> None:
        length = stop - run_start
        if length <= 0:
            return
        size = max(1, math.ceil(math.sqrt(length)))
        segments.extend((s, min(s + size, stop)) for s in range(run_start, stop, size))

    for i, child in enumerate(children):
        if any(True for _ in child.children()):
            close_run(i)
            segments.append((i, i + 1))
            run_start = i + 1
    close_run(len(children))
    return segments


class CheckpointedSequential(nn.Sequential):
    """nn.Sequential whose training forward checkpoints each segment (`block_segments`)."""

    def __init__(self, *modules: nn.Module):
        super().__init__(*modules)
        self.segments = block_segments(self)

    def forward(self, x):
        if not (self.training and torch.is_grad_enabled()):
            return super().forward(x)
        children = list(self)
        for start, stop in self.segments:
            x = checkpoint(_run_segment(children[start:stop]), x, use_reentrant=False)
        return x


def _run_segment(modules: list[nn.Module]):
    def run(x):
        for module in modules:
            x = module(x)
        return x

    return run


def with_activation_checkpointing(model: nn.Module) -> nn.Module:
    """The same layers (same parameters, same state-dict keys), checkpointed per block in training."""
    if isinstance(model, CheckpointedSequential) or not isinstance(model, nn.Sequential):
        return model
    wrapped = CheckpointedSequential()
    for name, child in model.named_children():
        wrapped.add_module(name, child)
    wrapped.segments = block_segments(wrapped)
    wrapped.train(model.training)
    return wrapped
