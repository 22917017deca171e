"""Attention modules Workbench adds to torch.nn, batch first. Their source is copied verbatim into exported model
files (`LayerType.code_helpers`), so each depends only on torch. Imported only when building.

The Transformer layers subclass torch's own modules, so their parameter names (state-dict keys) and counts are
torch's; they only add a one-input forward for a sequential network and the optional causal mask."""

from __future__ import annotations

import torch
from torch import nn


def causal_mask(length: int, device: torch.device) -> torch.Tensor:
    """(length, length) bool mask, True above the diagonal: position i may not attend to positions after i."""
    return torch.ones(length, length, dtype=torch.bool, device=device).triu(1)


def rotary_embedding(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding (RoFormer, GPT-NeoX's rotate-half layout) of (batch, heads, L, head_dim):
    each pair of features is rotated by an angle proportional to the position, so q.k depends only on the
    positions' offset."""
    length, dim = x.shape[-2], x.shape[-1]
    inv_freq = 1.0 / base ** (torch.arange(0, dim, 2, device=x.device, dtype=torch.float32) / dim)
    angles = torch.arange(length, device=x.device, dtype=torch.float32)[:, None] * inv_freq[None, :]
    cos = torch.cat((angles.cos(), angles.cos()), -1).to(x.dtype)
    sin = torch.cat((angles.sin(), angles.sin()), -1).to(x.dtype)
    first, second = x[..., : dim // 2], x[..., dim // 2 :]
    return x * cos + torch.cat((-second, first), -1) * sin


class SelfAttention(nn.MultiheadAttention):
    """Multi-head self-attention over a (batch, L, E) sequence returning (batch, L, E): torch's
    nn.MultiheadAttention with query = key = value = the input, optionally causal and with rotary position
    embeddings on the queries and keys."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        causal: bool = False,
        rotary: bool = False,
    ):
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, batch_first=True)
        self.causal = causal
        self.rotary = rotary

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        batch, length, width = x.shape
        heads = self.num_heads
        qkv = nn.functional.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.view(batch, length, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
        if self.rotary:
            q, k = rotary_embedding(q), rotary_embedding(k)
        out = nn.functional.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=self.causal
        )
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, width))


class TransformerEncoderBlock(nn.TransformerEncoderLayer):
    """torch's nn.TransformerEncoderLayer (batch first) taking one input; `causal` masks later positions (a
    GPT-style decoder block)."""

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        norm_first: bool = False,
        bias: bool = True,
        causal: bool = False,
    ):
        super().__init__(
            d_model,
            nhead,
            dim_feedforward=dim_feedforward,
            dropout=dropout,
            activation=activation,
            layer_norm_eps=layer_norm_eps,
            batch_first=True,
            norm_first=norm_first,
            bias=bias,
        )
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if not self.causal:
            return super().forward(x)
        return super().forward(x, src_mask=causal_mask(x.shape[1], x.device), is_causal=True)


class TransformerDecoderBlock(nn.TransformerDecoderLayer):
    """torch's nn.TransformerDecoderLayer (batch first) in a sequential network: the encoder memory its
    cross-attention reads is the layer's own input; `causal` masks later positions in both attentions, so the
    block stays autoregressive."""

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        norm_first: bool = False,
        bias: bool = True,
        causal: bool = True,
    ):
        super().__init__(
            d_model,
            nhead,
            dim_feedforward=dim_feedforward,
            dropout=dropout,
            activation=activation,
            layer_norm_eps=layer_norm_eps,
            batch_first=True,
            norm_first=norm_first,
            bias=bias,
        )
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        mask = causal_mask(x.shape[1], x.device) if self.causal else None
        return super().forward(
            x, x, tgt_mask=mask, memory_mask=mask, tgt_is_causal=self.causal, memory_is_causal=self.causal
        )


class PositionalEmbedding(nn.Module):
    """Adds a position vector to each step of a (batch, L, E) sequence: learned (a max_len x E table, as BERT and
    GPT-2) or the fixed sinusoids of "Attention Is All You Need" (no parameters)."""

    def __init__(self, max_len: int, embed_dim: int, kind: str = "learned"):
        super().__init__()
        self.kind = kind
        if kind == "learned":
            self.weight = nn.Parameter(torch.randn(max_len, embed_dim) * 0.02)
        else:
            position = torch.arange(max_len, dtype=torch.float32)[:, None]
            inv_freq = torch.exp(
                torch.arange(0, embed_dim, 2, dtype=torch.float32) * (-9.210340371976184 / embed_dim)
            )
            table = torch.zeros(max_len, embed_dim)
            table[:, 0::2] = torch.sin(position * inv_freq)
            table[:, 1::2] = torch.cos(position * inv_freq[: embed_dim // 2])
            self.register_buffer("weight", table, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight[: x.shape[1]].expand_as(x)


class PatchEmbedding(nn.Module):
    """An image (batch, C, H, W) cut into patch_size patches, each projected to embed_dim (a convolution with
    stride = kernel = patch size, as ViT), giving (batch, patches, E); `cls_token` prepends a learned token."""

    def __init__(
        self, in_channels: int, embed_dim: int, patch_size, cls_token: bool = False, bias: bool = True
    ):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dim, patch_size, stride=patch_size, bias=bias)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if cls_token else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x).flatten(2).transpose(1, 2)
        if self.cls_token is None:
            return x
        return torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), 1)


class SequencePool(nn.Module):
    """(batch, L, E) -> (batch, E): the mean or max over the steps, or the first (a class token) or last step
    (the last real token of a left-padded text)."""

    def __init__(self, mode: str = "mean"):
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "first":
            return x[:, 0]
        if self.mode == "last":
            return x[:, -1]
        if self.mode == "max":
            return x.amax(1)
        return x.mean(1)
