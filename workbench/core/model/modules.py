"""The few modules Workbench adds to torch.nn. Their source is copied verbatim into exported model files,
so each depends only on torch (and torchvision inside `torchvision_model`). Imported only when building."""

from __future__ import annotations

import torch
from torch import nn


class Residual(nn.Module):
    """output = body(x) + x, or body(x) + projection(x) when the body changes the shape."""

    def __init__(self, body: nn.Module, projection: nn.Module | None = None):
        super().__init__()
        self.body = body
        self.projection = projection

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.projection is None else self.projection(x)
        return self.body(x) + skip


class RecurrentBlock(nn.Module):
    """A batch-first LSTM / GRU that returns every step (batch, seq, features) or only the final hidden state
    of the last layer (batch, features; both directions concatenated), so it composes with Linear."""

    def __init__(self, rnn: nn.Module, output: str = "last"):
        super().__init__()
        self.rnn = rnn
        self.output = output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, hidden = self.rnn(x)
        if self.output == "all":
            return out
        if isinstance(hidden, tuple):  # LSTM: (h_n, c_n)
            hidden = hidden[0]
        directions = 2 if self.rnn.bidirectional else 1
        last = hidden[-directions:]  # (directions, batch, hidden)
        return last.transpose(0, 1).reshape(x.shape[0], -1)


class TokenBag(nn.EmbeddingBag):
    """torch's nn.EmbeddingBag over padded token ids: (batch, L) -> (batch, embedding_dim), the mean, sum or
    max of the vectors of the tokens that are not `padding_idx`. Computed with a lookup and masked reductions
    (so it exports to ONNX). The vectors start uniform in +-1/embedding_dim, as fastText's do (torch's N(0, 1)
    start leaves a bag model 10 to 15 points lower after 20 epochs at Adam's default rate: docs/data.md)."""

    def reset_parameters(self) -> None:
        nn.init.uniform_(self.weight, -1.0 / self.embedding_dim, 1.0 / self.embedding_dim)
        if self.padding_idx is not None:
            with torch.no_grad():
                self.weight[self.padding_idx].fill_(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        vectors = nn.functional.embedding(x, self.weight, self.padding_idx)
        if self.padding_idx is None:
            real = torch.ones_like(x, dtype=vectors.dtype).unsqueeze(-1)
        else:
            real = (x != self.padding_idx).unsqueeze(-1).to(vectors.dtype)
        if self.mode == "max":
            empty = real.sum(1) == 0  # a text of padding only pools to zeros
            best = vectors.masked_fill(real == 0, float("-inf")).amax(1)
            return best.masked_fill(empty, 0.0)
        total = (vectors * real).sum(1)
        return total if self.mode == "sum" else total / real.sum(1).clamp(min=1.0)


def torchvision_model(
    name: str, num_classes: int, in_channels: int = 3, small_stem: bool = False
) -> nn.Module:
    """A torchvision architecture (never pretrained weights) with a `num_classes` head, its first convolution
    taking `in_channels`, and for small images (`small_stem`) a stride-1 stem that keeps the resolution."""
    import torchvision

    model = getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
    if in_channels == 3 and not small_stem:
        return model
    if hasattr(model, "conv1") and hasattr(model, "maxpool"):  # ResNet family
        first = model.conv1
        stride, kernel, padding = (
            (1, 3, 1) if small_stem else (first.stride, first.kernel_size, first.padding)
        )
        model.conv1 = nn.Conv2d(in_channels, first.out_channels, kernel, stride, padding, bias=False)
        if small_stem:
            model.maxpool = nn.Identity()
    elif hasattr(model, "features") and isinstance(
        model.features[0], nn.Sequential
    ):  # MobileNet, EfficientNet
        first = model.features[0][0]
        model.features[0][0] = nn.Conv2d(
            in_channels,
            first.out_channels,  # type: ignore[arg-type]
            first.kernel_size,  # type: ignore[arg-type]
            1 if small_stem else first.stride,  # type: ignore[arg-type]
            first.padding,  # type: ignore[arg-type]
            bias=False,
        )
    else:
        raise ValueError(
            f"{name}: cannot adapt the first convolution to {in_channels} channels / small inputs"
        )
    return model
