"""The attention layers: parameter counts equal torch's own modules with the same arguments, the output is
torch's (and causal where asked), MACs equal a reference count of the real module, and bad inputs fail at the
layer with a fix that works."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from workbench.core.model.analysis import analyze, apply_fix
from workbench.core.model.build import build_model
from workbench.core.model.spec import ModelSpec


def _one(shape, layer, before=()):
    spec = ModelSpec(input_shape=list(shape), layers=[*before, layer])
    tokens = bool(before) and before[0]["type"] == "Embedding"
    analysis = analyze(spec, input_dtype="int64" if tokens else "float32")
    assert analysis.ok, analysis.error
    return spec, analysis


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("heads,bias", [(1, True), (4, False), (8, True)])
def test_multihead_attention_counts_torchs_parameters(heads, bias):
    spec, a = _one([10, 32], {"type": "MultiheadAttention", "num_heads": heads, "bias": bias})
    torchs = nn.MultiheadAttention(32, heads, bias=bias, batch_first=True)
    assert a.total_params == _count(torchs) == _count(build_model(spec))
    assert [n for n, _ in build_model(spec)[0].named_parameters()] == [
        n for n, _ in torchs.named_parameters()
    ]


@pytest.mark.parametrize(
    "kw",
    [
        {"nhead": 4, "dim_feedforward": 64},
        {"nhead": 2, "dim_feedforward": 24, "bias": False, "norm_first": True, "activation": "gelu"},
    ],
)
@pytest.mark.parametrize("name", ["TransformerEncoderLayer", "TransformerDecoderLayer"])
def test_transformer_layers_count_torchs_parameters(name, kw):
    spec, a = _one([7, 16], {"type": name, **kw})
    torchs = getattr(nn, name)(16, batch_first=True, **kw)
    assert a.total_params == _count(torchs)
    assert build_model(spec)[0].state_dict().keys() == torchs.state_dict().keys()


def test_embeddings_pooling_and_head_count_like_torch():
    _, a = _one([12], {"type": "PositionalEmbedding", "max_len": 20}, [_embedding(50, 8)])
    assert a.layers[1].num_params == _count(nn.Embedding(20, 8))
    _, a = _one([12], {"type": "PositionalEmbedding", "kind": "sinusoidal"}, [_embedding(50, 8)])
    assert a.layers[1].num_params == 0
    spec, a = _one([3, 8, 8], {"type": "PatchEmbedding", "embed_dim": 12, "patch_size": 4, "cls_token": True})
    assert a.total_params == _count(nn.Conv2d(3, 12, 4, 4)) + 12 == _count(build_model(spec))
    assert a.output_shape == (5, 12)
    _, a = _one([12], {"type": "LMHead", "vocab_size": 50, "bias": False}, [_embedding(50, 8)])
    assert a.layers[1].num_params == _count(nn.Linear(8, 50, bias=False)) and a.output_shape == (12, 50)
    _, a = _one([6, 8], {"type": "SequencePool", "mode": "last"})
    assert a.total_params == 0 and a.output_shape == (8,)


def _embedding(vocab, width):
    return {"type": "Embedding", "num_embeddings": vocab, "embedding_dim": width}


def test_self_attention_is_torchs_multihead_attention():
    torch.manual_seed(0)
    for causal in (False, True):
        spec, _ = _one([9, 16], {"type": "MultiheadAttention", "num_heads": 4, "causal": causal})
        ours = build_model(spec)[0].eval()
        torchs = nn.MultiheadAttention(16, 4, batch_first=True).eval()
        torchs.load_state_dict(ours.state_dict())
        x = torch.randn(3, 9, 16)
        mask = torch.ones(9, 9, dtype=torch.bool).triu(1) if causal else None
        with torch.no_grad():
            want = torchs(x, x, x, attn_mask=mask, need_weights=False)[0]
            assert torch.allclose(ours(x), want, atol=1e-5)


def test_decoder_layer_reads_its_own_input_as_memory():
    torch.manual_seed(0)
    spec, _ = _one([6, 8], {"type": "TransformerDecoderLayer", "nhead": 2, "dim_feedforward": 16})
    ours = build_model(spec)[0].eval()
    torchs = nn.TransformerDecoderLayer(8, 2, 16, batch_first=True).eval()
    torchs.load_state_dict(ours.state_dict())
    x, mask = torch.randn(2, 6, 8), torch.ones(6, 6, dtype=torch.bool).triu(1)
    with torch.no_grad():
        assert torch.allclose(ours(x), torchs(x, x, tgt_mask=mask, memory_mask=mask), atol=1e-5)


@pytest.mark.parametrize(
    "layer",
    [
        {"type": "MultiheadAttention", "num_heads": 2, "causal": True},
        {"type": "MultiheadAttention", "num_heads": 2, "causal": True, "rotary": True},
        {"type": "TransformerEncoderLayer", "nhead": 2, "dim_feedforward": 16, "causal": True},
        {"type": "TransformerDecoderLayer", "nhead": 2, "dim_feedforward": 16},
    ],
)
def test_causal_layers_do_not_look_ahead(layer):
    """Changing the last steps leaves every earlier output unchanged (in training mode too, dropout off)."""
    spec, _ = _one([8, 8], {**layer, "dropout": 0.0})
    model = build_model(spec)
    x = torch.randn(2, 8, 8)
    later = x.clone()
    later[:, 5:] = torch.randn(2, 3, 8)
    for mode in (model.train(), model.eval()):
        with torch.no_grad():
            assert torch.allclose(mode(x)[:, :5], mode(later)[:, :5], atol=1e-5)
            assert not torch.allclose(mode(x)[:, 5:], mode(later)[:, 5:])
    spec, _ = _one([8, 8], {**layer, "dropout": 0.0, "causal": False})
    with torch.no_grad():
        assert not torch.allclose(build_model(spec).eval()(x)[:, :5], build_model(spec).eval()(later)[:, :5])


def test_rotary_scores_depend_only_on_the_offset():
    from workbench.core.model.modules_attention import rotary_embedding

    torch.manual_seed(0)
    q, k = torch.randn(8), torch.randn(8)
    rq = rotary_embedding(q.expand(1, 1, 12, 8))[0, 0]
    rk = rotary_embedding(k.expand(1, 1, 12, 8))[0, 0]
    scores = rq @ rk.T  # scores[m, n] = q at position m . k at position n
    for offset in (0, 1, 5):
        diagonal = torch.diagonal(scores, offset)
        assert torch.allclose(diagonal, diagonal[0].expand_as(diagonal), atol=1e-4)
    assert torch.allclose(rq.norm(dim=1), q.norm().expand(12), atol=1e-5)  # a rotation keeps the length


def test_sinusoidal_table_is_the_transformers_formula():
    spec, _ = _one([10, 6], {"type": "PositionalEmbedding", "kind": "sinusoidal"})
    model = build_model(spec)
    table = model(torch.zeros(1, 10, 6))[0]
    for pos, i in ((0, 0), (3, 2), (9, 4)):
        angle = pos / 10000 ** (i / 6)
        assert table[pos, i].item() == pytest.approx(math.sin(angle), abs=1e-6)
        assert table[pos, i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert not model.state_dict()  # a fixed table: nothing to save


def _reference_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Per sample: torch's FlopCounterMode on the real module (the math attention kernel, whose QKᵀ and AV
    matmuls it sees) plus one per element for every LayerNorm input and every residual add (two per encoder
    layer, three per decoder layer, one for a positional embedding and the rotary rotation of Q and K)."""
    extra = [0]
    n = len(x)

    def hook(module, args, out):
        if isinstance(module, nn.LayerNorm):
            extra[0] += args[0].numel() // n
        if isinstance(module, nn.TransformerEncoderLayer | nn.TransformerDecoderLayer):
            adds = 3 if isinstance(module, nn.TransformerDecoderLayer) else 2
            extra[0] += adds * out.numel() // n
        if type(module).__name__ == "PositionalEmbedding":
            extra[0] += out.numel() // n
        if type(module).__name__ == "SelfAttention" and module.rotary:
            extra[0] += 2 * out.numel() // n

    hooks = [m.register_forward_hook(hook) for m in model.modules()]
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as flops, torch.no_grad():
        model.train()(x)  # training mode: torch's fused inference path hides its matmuls from the counter
    for h in hooks:
        h.remove()
    return flops.get_total_flops() // 2 // n + extra[0]


def test_macs_match_a_reference_count_of_the_real_module():
    spec = ModelSpec(
        input_shape=[10],
        layers=[
            _embedding(40, 16),
            {"type": "PositionalEmbedding"},
            {"type": "TransformerEncoderLayer", "nhead": 4, "dim_feedforward": 32, "dropout": 0.0},
            {"type": "TransformerDecoderLayer", "nhead": 2, "dim_feedforward": 24, "norm_first": True},
            {"type": "MultiheadAttention", "num_heads": 2, "rotary": True, "causal": True},
            {"type": "LMHead", "vocab_size": 40},
        ],
    )
    a = analyze(spec, input_dtype="int64")
    assert a.ok, a.error
    assert a.total_macs == _reference_macs(build_model(spec), torch.randint(0, 40, (2, 10)))
    # the convention by hand for the encoder layer: projections 4LE², attention 2L²E, feed-forward 2LEF,
    # two LayerNorms and two residual adds of L·E each
    length, e, f = 10, 16, 32
    assert (
        a.layers[2].macs == 4 * length * e * e + 2 * length * length * e + 2 * length * e * f + 4 * length * e
    )

    vit = ModelSpec(
        input_shape=[1, 8, 8],
        layers=[
            {"type": "PatchEmbedding", "embed_dim": 16, "patch_size": 2, "cls_token": True},
            {"type": "TransformerEncoderLayer", "nhead": 4, "dim_feedforward": 32},
            {"type": "SequencePool", "mode": "first"},
            {"type": "Linear", "out_features": 10},
        ],
    )
    assert analyze(vit).total_macs == _reference_macs(build_model(vit), torch.randn(2, 1, 8, 8))


@pytest.mark.parametrize(
    "shape,layer,words,fixed",
    [
        ([5, 30], {"type": "TransformerEncoderLayer", "nhead": 4}, "use nhead 3 or 5", {"nhead": 3}),
        ([5, 30], {"type": "MultiheadAttention", "num_heads": 7}, "use num_heads 6 or 10", {"num_heads": 6}),
        ([5, 12], {"type": "MultiheadAttention", "num_heads": 4, "rotary": True}, "even head size", None),
        ([1, 8, 8], {"type": "TransformerEncoderLayer"}, "insert a PatchEmbedding", None),
        ([3, 8, 6], {"type": "PatchEmbedding", "patch_size": 4}, "use 4x3", {"patch_size": [4, 3]}),
        ([64], {"type": "PatchEmbedding", "patch_size": 4}, "needs an image", None),
        ([9, 4], {"type": "PositionalEmbedding", "max_len": 5}, "set max_len to 9", {"max_len": 9}),
        ([1, 8, 8], {"type": "SequencePool"}, "AdaptiveAvgPool2d", None),
        ([8], {"type": "LMHead"}, "needs a sequence (L, E)", None),
        ([12], {"type": "MultiheadAttention"}, "start with an Embedding", None),
    ],
)
def test_errors_name_the_layer_and_the_fix_resolves_them(shape, layer, words, fixed):
    spec = ModelSpec(input_shape=shape, layers=[layer])
    a = analyze(spec)
    assert not a.ok and a.error_path == (0,) and words in a.error, a.error
    report = a.layers[0]
    if fixed is not None:
        assert report.fix.op == "set" and report.fix.layer == fixed
    if report.fix is not None:
        repaired = analyze(apply_fix(spec, report.fix))
        assert repaired.error_path != (0,) or repaired.ok, repaired.error
        assert repaired.layers[0].error is None


def test_lm_head_after_pooling_says_to_remove_the_pooling():
    spec = ModelSpec(
        input_shape=[6], layers=[_embedding(30, 8), {"type": "SequencePool"}, {"type": "LMHead"}]
    )
    a = analyze(spec, input_dtype="int64")
    assert a.error_path == (2,) and "remove the pooling" in a.error


def test_a_rotary_gpt_block_composes_from_residuals(tmp_path):
    """Pre-norm GPT block with rotary positions by clicking: Residual(LayerNorm, causal rotary attention) and
    Residual(LayerNorm, Linear 4E, GELU, Linear E); its exported code gives the same outputs."""
    import importlib.util

    from workbench.core.model.codegen import export_code

    block = [
        {"type": "Residual", "layers": [{"type": "LayerNorm"}, {**ROTARY, "num_heads": 2}]},
        {
            "type": "Residual",
            "layers": [
                {"type": "LayerNorm"},
                {"type": "Linear", "out_features": 64},
                {"type": "GELU"},
                {"type": "Linear", "out_features": 16},
            ],
        },
    ]
    spec = ModelSpec(
        input_shape=[10], layers=[_embedding(40, 16), *block, *block, {"type": "LMHead", "vocab_size": 40}]
    )
    a = analyze(spec, input_dtype="int64")
    assert a.ok and a.output_shape == (10, 40), a.error
    model = build_model(spec).eval()
    assert a.total_params == _count(model)
    x = torch.randint(0, 40, (2, 10))
    path = export_code(spec, tmp_path / "gpt.py")
    module_spec = importlib.util.spec_from_file_location("gpt", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    exported = module.Model().eval()
    exported.load_state_dict(model.state_dict())
    later = x.clone()
    later[:, 7:] = (x[:, 7:] + 1) % 40
    with torch.no_grad():
        assert torch.equal(exported(x), model(x))
        assert torch.allclose(model(x)[:, :7], model(later)[:, :7], atol=1e-5)  # still causal


ROTARY = {"type": "MultiheadAttention", "causal": True, "rotary": True}
