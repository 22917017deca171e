"""Built-in attention layers (palette category "Attention"): self-attention, Transformer encoder and decoder
layers, positional and patch embeddings, sequence pooling and a language-model head. Batch first; the shapes
here leave the batch out: a sequence is (L, E), an image (C, H, W). The modules are torch's own or small
subclasses in `workbench.core.model.modules_attention`, so parameter names and counts are torch's.

MAC convention (the one `analysis._norm_and_add_counter` documents): per sample, every multiply-accumulate of
the projections (Q, K, V and output: 4·L·E²), of the attention itself (QKᵀ and the weighted sum of V:
2·L²·E, the full square even when causal, as the kernels compute it), of the feed-forward (2·L·E·F), plus one
per element for each LayerNorm, each residual add and the rotary rotation's add (of Q and K: 2·L·E). Softmax,
activations, dropout and element-wise products count 0."""

from __future__ import annotations

from workbench.core.model.layers import CHANNELS, check_inferred, pair, prod, unflatten_fix
from workbench.core.model.registry import Fix, LayerError, LayerType, Param, register_layer
from workbench.core.units import shape_text

HELPERS = "workbench.core.model.modules_attention:"
SEQUENCE = "a sequence (L, E)"


def _need_sequence(name: str, s) -> None:
    """(L, E) or an error saying which layer turns this input into one."""
    if len(s) == 2:
        return
    if len(s) == 3:
        raise LayerError(
            f"{name} needs {SEQUENCE} but receives the image {shape_text(s, 'x')}; insert a PatchEmbedding "
            "before it to cut the image into a sequence of patches",
            Fix("Insert PatchEmbedding before it", "insert", (), {"type": "PatchEmbedding"}),
        )
    raise LayerError(
        f"{name} needs {SEQUENCE} but receives {shape_text(s, 'x')}; start with an Embedding (token ids) or "
        "reshape the input to steps x features"
    )


def _check_heads(name: str, key: str, width_key: str, p: dict) -> None:
    """The width must split evenly into heads; the Fix sets the nearest head count that does."""
    width, heads = p[width_key], p[key]
    if width % heads == 0:
        return
    valid = [h for h in range(1, width + 1) if width % h == 0]
    below = max((h for h in valid if h < heads), default=None)
    above = min((h for h in valid if h > heads), default=None)
    options = [h for h in (below, above) if h is not None]
    best = min(options, key=lambda h: (abs(h - heads), h))
    raise LayerError(
        f"{name} {width_key} {width} is not divisible by {key} {heads}; use {key} "
        f"{' or '.join(map(str, options))} (or change the width before it)",
        Fix(f"Set {key} to {best}", "set", (), {key: best}),
    )


def _attention_macs(length: int, width: int) -> int:
    return 4 * length * width * width + 2 * length * length * width


def _attention_params(width: int, bias: bool) -> int:
    return 4 * width * width + (4 * width if bias else 0)


# -- MultiheadAttention ----------------------------------------------------------------------------------------
def _mha_infer(p, s):
    _need_sequence("MultiheadAttention", s)
    p = check_inferred(p, "embed_dim", s[-1], "MultiheadAttention")
    _check_heads("MultiheadAttention", "num_heads", "embed_dim", p)
    if p["rotary"] and (p["embed_dim"] // p["num_heads"]) % 2:
        raise LayerError(
            f"MultiheadAttention rotary needs an even head size, but embed_dim {p['embed_dim']} / num_heads "
            f"{p['num_heads']} = {p['embed_dim'] // p['num_heads']}; change num_heads or turn rotary off",
            Fix("Turn rotary off", "set", (), {"rotary": False}),
        )
    return p


def _mha_args(p) -> str:
    return (
        f"{p['embed_dim']}, {p['num_heads']}, dropout={p['dropout']!r}, bias={p['bias']!r}, "
        f"causal={p['causal']!r}, rotary={p['rotary']!r}"
    )


def _mha_build(p, s):
    from workbench.core.model.modules_attention import SelfAttention

    return SelfAttention(
        p["embed_dim"], p["num_heads"], p["dropout"], p["bias"], causal=p["causal"], rotary=p["rotary"]
    )


_CAUSAL_DOC = "Each position attends only to itself and earlier ones (a GPT-style language model)"

register_layer(
    LayerType(
        "MultiheadAttention",
        "Attention",
        doc="Multi-head self-attention over a sequence (L, E) -> (L, E): torch's nn.MultiheadAttention with "
        "query = key = value = the input; optionally causal and with rotary position embeddings.",
        params=(
            Param("embed_dim", "int", minimum=1, inferred=True, doc=f"Features per step; {CHANNELS}"),
            Param("num_heads", "int", 4, 1, 4096, doc="Attention heads; must divide embed_dim"),
            Param("dropout", "float", 0.0, 0, 1, doc="Dropout on the attention weights while training"),
            Param("bias", "bool", True, doc="Learn biases in the input and output projections"),
            Param("causal", "bool", False, ctor=False, doc=_CAUSAL_DOC),
            Param(
                "rotary",
                "bool",
                False,
                ctor=False,
                doc="Rotary position embeddings on queries and keys (RoFormer); needs an even head size",
            ),
        ),
        build=_mha_build,
        infer=_mha_infer,
        shape=lambda p, s: s,
        count_params=lambda p, s: _attention_params(p["embed_dim"], p["bias"]),
        macs=lambda p, s, o: _attention_macs(s[0], p["embed_dim"]) + (2 * prod(s) if p["rotary"] else 0),
        code=lambda p, s: f"SelfAttention({_mha_args(p)})",
        code_helpers=(HELPERS + "rotary_embedding", HELPERS + "SelfAttention"),
    )
)


# -- Transformer encoder and decoder layers --------------------------------------------------------------------
def _block_params(decoder: bool) -> tuple[Param, ...]:
    return (
        Param("d_model", "int", minimum=1, inferred=True, doc=f"Features per step; {CHANNELS}"),
        Param("nhead", "int", 4, 1, 4096, doc="Attention heads; must divide d_model"),
        Param("dim_feedforward", "int", 2048, 1, 1_000_000, doc="Width of the feed-forward network"),
        Param("dropout", "float", 0.1, 0, 1, doc="Dropout after attention and in the feed-forward network"),
        Param("activation", "choice", "relu", choices=("relu", "gelu"), doc="Feed-forward activation"),
        Param("layer_norm_eps", "float", 1e-5, 0, 1, doc="Added to the variance in the LayerNorms"),
        Param(
            "norm_first",
            "bool",
            False,
            doc="Pre-norm (LayerNorm before attention and feed-forward, as GPT-2)",
        ),
        Param("bias", "bool", True, doc="Learn biases in the linear layers and LayerNorms"),
        Param(
            "causal",
            "bool",
            decoder,
            ctor=False,
            doc=_CAUSAL_DOC + (" (in both attentions)" if decoder else "; makes it a GPT-style block"),
        ),
    )


def _block(name: str, decoder: bool) -> LayerType:
    attentions, norms = (2, 3) if decoder else (1, 2)
    helper = "TransformerDecoderBlock" if decoder else "TransformerEncoderBlock"

    def infer(p, s):
        _need_sequence(name, s)
        p = check_inferred(p, "d_model", s[-1], name)
        _check_heads(name, "nhead", "d_model", p)
        return p

    def count(p, s):
        e, f, bias = p["d_model"], p["dim_feedforward"], p["bias"]
        feed_forward = 2 * e * f + ((f + e) if bias else 0)
        return attentions * _attention_params(e, bias) + feed_forward + norms * (2 * e if bias else e)

    def macs(p, s, o):
        length, e = s
        return (
            attentions * _attention_macs(length, e)
            + 2 * length * e * p["dim_feedforward"]
            + 2 * norms * length * e  # each LayerNorm and each residual add: one per element
        )

    def args(p) -> str:
        keys = ("dim_feedforward", "dropout", "activation", "layer_norm_eps", "norm_first", "bias", "causal")
        return f"{p['d_model']}, {p['nhead']}, " + ", ".join(f"{k}={p[k]!r}" for k in keys)

    def build(p, s):
        from workbench.core.model import modules_attention

        keys = ("dim_feedforward", "dropout", "activation", "layer_norm_eps", "norm_first", "bias", "causal")
        return getattr(modules_attention, helper)(p["d_model"], p["nhead"], **{k: p[k] for k in keys})

    what = (
        "self-attention, cross-attention over its own input (a sequential network has no encoder memory) and "
        "a feed-forward network; causal by default"
        if decoder
        else "self-attention and a feed-forward network, each with a residual add and LayerNorm"
    )
    return LayerType(
        name,
        "Attention",
        doc=f"torch's nn.{name} (batch first), (L, E) -> (L, E): {what}.",
        params=_block_params(decoder),
        build=build,
        infer=infer,
        shape=lambda p, s: s,
        count_params=count,
        macs=macs,
        code=lambda p, s: f"{helper}({args(p)})",
        code_helpers=(HELPERS + "causal_mask", HELPERS + helper),
    )


register_layer(_block("TransformerEncoderLayer", decoder=False))
register_layer(_block("TransformerDecoderLayer", decoder=True))


# -- Positional and patch embeddings ---------------------------------------------------------------------------
def _pos_infer(p, s):
    if len(s) == 1:
        raise LayerError(
            f"PositionalEmbedding needs {SEQUENCE} but receives {shape_text(s, 'x')}; put an Embedding before "
            "it to turn token ids into vectors",
            Fix("Insert Embedding before it", "insert", (), {"type": "Embedding"}),
        )
    _need_sequence("PositionalEmbedding", s)
    p = check_inferred(p, "embed_dim", s[-1], "PositionalEmbedding")
    if p["max_len"] is None:
        p["max_len"] = s[0]
    elif p["max_len"] < s[0]:
        raise LayerError(
            f"PositionalEmbedding max_len {p['max_len']} is shorter than the {s[0]}-step sequence; "
            f"set max_len to {s[0]} or more",
            Fix(f"Set max_len to {s[0]}", "set", (), {"max_len": s[0]}),
        )
    return p


def _pos_build(p, s):
    from workbench.core.model.modules_attention import PositionalEmbedding

    return PositionalEmbedding(p["max_len"], p["embed_dim"], p["kind"])


register_layer(
    LayerType(
        "PositionalEmbedding",
        "Attention",
        doc="Adds a position vector to every step of a sequence (L, E): learned (BERT, GPT-2) or fixed sinusoids "
        "(the original Transformer). Put it after the Embedding.",
        params=(
            Param(
                "kind",
                "choice",
                "learned",
                choices=("learned", "sinusoidal"),
                doc="learned: a trained max_len x E table; sinusoidal: fixed sines and cosines, no parameters",
            ),
            Param(
                "max_len",
                "int",
                None,
                1,
                1_000_000,
                optional=True,
                doc="Longest sequence it can embed (empty: the input length)",
            ),
            Param("embed_dim", "int", minimum=1, inferred=True, doc=f"Features per step; {CHANNELS}"),
        ),
        build=_pos_build,
        infer=_pos_infer,
        shape=lambda p, s: s,
        count_params=lambda p, s: p["max_len"] * p["embed_dim"] if p["kind"] == "learned" else 0,
        macs=lambda p, s, o: prod(s),  # the addition, one per element
        code=lambda p, s: f"PositionalEmbedding({p['max_len']}, {p['embed_dim']}, kind={p['kind']!r})",
        code_helpers=(HELPERS + "PositionalEmbedding",),
    )
)


def _nearest_divisor(n: int, want: int) -> int:
    return min((d for d in range(1, n + 1) if n % d == 0), key=lambda d: (abs(d - want), -d))


def _patch_infer(p: dict, s: tuple) -> dict:
    if len(s) != 3:
        raise LayerError(
            f"PatchEmbedding needs an image (C, H, W) but receives {shape_text(s, 'x')}",
            unflatten_fix(s) if len(s) == 1 else None,
        )
    p = check_inferred(p, "in_channels", s[0], "PatchEmbedding")
    patch = pair(p["patch_size"], 2)
    if any(side % size for side, size in zip(s[1:], patch, strict=True)):
        best = [_nearest_divisor(side, size) for side, size in zip(s[1:], patch, strict=True)]
        if best[0] == best[1]:
            value: int | list[int] = best[0]
        else:
            value = best
        raise LayerError(
            f"PatchEmbedding patch_size {shape_text(patch, 'x')} does not tile the {shape_text(s[1:], 'x')} "
            f"image; use {shape_text(best, 'x')}",
            Fix(f"Set patch_size to {shape_text(best, 'x')}", "set", (), {"patch_size": value}),
        )
    return p


def _patches(p, s) -> int:
    ph, pw = pair(p["patch_size"], 2)
    return (s[1] // ph) * (s[2] // pw)


def _patch_build(p, s):
    from workbench.core.model.modules_attention import PatchEmbedding

    patch = tuple(pair(p["patch_size"], 2))
    return PatchEmbedding(p["in_channels"], p["embed_dim"], patch, p["cls_token"], p["bias"])


register_layer(
    LayerType(
        "PatchEmbedding",
        "Attention",
        doc="Cuts an image (C, H, W) into patches and projects each to embed_dim (ViT): (patches, E), with a "
        "learned class token first when cls_token is on (the step a classifier head reads).",
        params=(
            Param("in_channels", "int", minimum=1, inferred=True, doc=f"Image channels; {CHANNELS}"),
            Param("embed_dim", "int", 64, 1, 65_536, doc="Features per patch"),
            Param("patch_size", "ints", 4, 1, 4096, size=2, doc="Patch side (one number or height, width)"),
            Param("cls_token", "bool", False, doc="Prepend a learned class token (one more step)"),
            Param("bias", "bool", True, doc="Learn a bias in the projection"),
        ),
        build=_patch_build,
        infer=_patch_infer,
        shape=lambda p, s: (_patches(p, s) + (1 if p["cls_token"] else 0), p["embed_dim"]),
        count_params=lambda p, s: (
            p["embed_dim"] * p["in_channels"] * prod(pair(p["patch_size"], 2))
            + (p["embed_dim"] if p["bias"] else 0)
            + (p["embed_dim"] if p["cls_token"] else 0)
        ),
        macs=lambda p, s, o: (
            _patches(p, s) * p["embed_dim"] * p["in_channels"] * prod(pair(p["patch_size"], 2))
        ),
        code=lambda p, s: (
            f"PatchEmbedding({p['in_channels']}, {p['embed_dim']}, {tuple(pair(p['patch_size'], 2))!r}, "
            f"cls_token={p['cls_token']!r}, bias={p['bias']!r})"
        ),
        code_helpers=(HELPERS + "PatchEmbedding",),
    )
)


# -- Pooling and the language-model head -----------------------------------------------------------------------
def _pool_infer(p, s):
    if len(s) == 3:
        raise LayerError(
            f"SequencePool needs {SEQUENCE} but receives the image {shape_text(s, 'x')}; for an image use "
            "AdaptiveAvgPool2d and Flatten",
            Fix(
                "Use AdaptiveAvgPool2d instead",
                "replace",
                (),
                {"type": "AdaptiveAvgPool2d", "output_size": 1},
            ),
        )
    if len(s) == 1:
        raise LayerError(
            f"SequencePool needs {SEQUENCE} but receives {shape_text(s, 'x')}, which has no steps to pool; "
            "remove it"
        )
    return p


def _pool_build(p, s):
    from workbench.core.model.modules_attention import SequencePool

    return SequencePool(p["mode"])


register_layer(
    LayerType(
        "SequencePool",
        "Attention",
        doc="Pools a sequence (L, E) to one vector (E,) for a classifier head: the mean or max over the steps, "
        "the first step (a class token) or the last (the last real token of a left-padded text). Padding "
        "steps are included in mean and max.",
        params=(
            Param(
                "mode",
                "choice",
                "mean",
                choices=("mean", "first", "last", "max"),
                doc="mean / max over the steps, or the first or last step",
            ),
        ),
        build=_pool_build,
        infer=_pool_infer,
        shape=lambda p, s: (s[-1],),
        count_params=lambda p, s: 0,
        macs=lambda p, s, o: 0,
        code=lambda p, s: f"SequencePool({p['mode']!r})",
        code_helpers=(HELPERS + "SequencePool",),
    )
)


def _head_infer(p, s):
    if len(s) == 1:
        raise LayerError(
            f"LMHead predicts a token at every step and needs {SEQUENCE}, but receives {shape_text(s, 'x')}; "
            "remove the pooling before it (or use Linear for one prediction per sequence)"
        )
    _need_sequence("LMHead", s)
    return check_inferred(p, "in_features", s[-1], "LMHead")


def _head_build(p, s):
    from torch import nn

    return nn.Linear(p["in_features"], p["vocab_size"], bias=p["bias"])


register_layer(
    LayerType(
        "LMHead",
        "Attention",
        doc="Language-model head: a Linear from each step's features to one score per vocabulary entry, "
        "(L, E) -> (L, vocab_size) next-token logits.",
        params=(
            Param("in_features", "int", minimum=1, inferred=True, doc=f"Features per step; {CHANNELS}"),
            Param(
                "vocab_size",
                "int",
                1000,
                1,
                10_000_000,
                doc="Vocabulary size (the Embedding's num_embeddings)",
            ),
            Param("bias", "bool", True, doc="Learn a bias per vocabulary entry"),
        ),
        build=_head_build,
        infer=_head_infer,
        shape=lambda p, s: (s[0], p["vocab_size"]),
        count_params=lambda p, s: p["in_features"] * p["vocab_size"] + (p["vocab_size"] if p["bias"] else 0),
        macs=lambda p, s, o: s[0] * p["in_features"] * p["vocab_size"],
        code=lambda p, s: f"nn.Linear({p['in_features']}, {p['vocab_size']}, bias={p['bias']!r})",
    )
)
