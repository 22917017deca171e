"""Every layer type builds, runs forward on its inferred input, and matches the analysis (shapes, parameter
counts, MACs where known); the exported code reproduces the outputs exactly."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from workbench.core.model.analysis import analyze
from workbench.core.model.build import build_model
from workbench.core.model.codegen import export_code
from workbench.core.model.registry import layer_types
from workbench.core.model.spec import ModelSpec

# type -> (input shape, layers before it, the layer)
CASES = {
    "Linear": ([20], [], {"type": "Linear", "out_features": 7}),
    "Identity": ([5], [], {"type": "Identity"}),
    "Conv1d": (
        [3, 16],
        [],
        {"type": "Conv1d", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1},
    ),
    "Conv2d": (
        [3, 9, 9],
        [],
        {"type": "Conv2d", "out_channels": 6, "kernel_size": [3, 2], "groups": 3, "dilation": 2},
    ),
    "ConvTranspose2d": (
        [4, 5, 5],
        [],
        {
            "type": "ConvTranspose2d",
            "out_channels": 2,
            "kernel_size": 3,
            "stride": 2,
            "padding": 1,
            "output_padding": 1,
        },
    ),
    "MaxPool1d": ([2, 11], [], {"type": "MaxPool1d", "kernel_size": 3, "stride": 2}),
    "MaxPool2d": ([2, 9, 9], [], {"type": "MaxPool2d", "kernel_size": 2, "padding": 1}),
    "AvgPool2d": ([2, 8, 8], [], {"type": "AvgPool2d", "kernel_size": 3, "stride": 2}),
    "AdaptiveAvgPool2d": ([3, 7, 7], [], {"type": "AdaptiveAvgPool2d", "output_size": [2, 3]}),
    "BatchNorm1d": ([6, 10], [], {"type": "BatchNorm1d"}),
    "BatchNorm2d": ([4, 5, 5], [], {"type": "BatchNorm2d", "affine": False}),
    "LayerNorm": ([7, 12], [], {"type": "LayerNorm"}),
    "GroupNorm": ([8, 4, 4], [], {"type": "GroupNorm", "num_groups": 4}),
    "Dropout": ([10], [], {"type": "Dropout", "p": 0.3}),
    "Dropout2d": ([3, 4, 4], [], {"type": "Dropout2d"}),
    "Flatten": ([3, 4, 5], [], {"type": "Flatten"}),
    "Unflatten": ([48], [], {"type": "Unflatten", "dim": 1, "unflattened_size": [3, 4, 4]}),
    "ReLU": ([5], [], {"type": "ReLU"}),
    "LeakyReLU": ([5], [], {"type": "LeakyReLU", "negative_slope": 0.2}),
    "GELU": ([5], [], {"type": "GELU", "approximate": "tanh"}),
    "SiLU": ([5], [], {"type": "SiLU"}),
    "ELU": ([5], [], {"type": "ELU", "alpha": 0.5}),
    "Sigmoid": ([5], [], {"type": "Sigmoid"}),
    "Tanh": ([5], [], {"type": "Tanh"}),
    "Softmax": ([4, 5], [], {"type": "Softmax", "dim": 1}),
    "LogSoftmax": ([5], [], {"type": "LogSoftmax"}),
    "Embedding": ([9], [], {"type": "Embedding", "num_embeddings": 30, "embedding_dim": 8, "padding_idx": 0}),
    "EmbeddingBag": (
        [9],
        [],
        {"type": "EmbeddingBag", "num_embeddings": 30, "embedding_dim": 8, "mode": "max"},
    ),
    "LSTM": (
        [9],
        [{"type": "Embedding", "num_embeddings": 30, "embedding_dim": 8}],
        {"type": "LSTM", "hidden_size": 6, "num_layers": 2, "bidirectional": True},
    ),
    "GRU": ([7, 5], [], {"type": "GRU", "hidden_size": 6, "output": "all"}),
    "Residual": (
        [4, 8, 8],
        [],
        {
            "type": "Residual",
            "layers": [
                {"type": "Conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1},
                {"type": "ReLU"},
            ],
        },
    ),
    "TorchvisionModel": ([1, 16, 16], [], {"type": "TorchvisionModel", "name": "resnet18", "num_classes": 5}),
    "MultiheadAttention": (
        [6, 8],
        [],
        {"type": "MultiheadAttention", "num_heads": 2, "causal": True, "rotary": True},
    ),
    "TransformerEncoderLayer": (
        [5, 8],
        [],
        {
            "type": "TransformerEncoderLayer",
            "nhead": 2,
            "dim_feedforward": 16,
            "norm_first": True,
            "causal": True,
        },
    ),
    "TransformerDecoderLayer": (
        [5, 8],
        [],
        {"type": "TransformerDecoderLayer", "nhead": 2, "dim_feedforward": 16, "activation": "gelu"},
    ),
    "PositionalEmbedding": (
        [9],
        [{"type": "Embedding", "num_embeddings": 30, "embedding_dim": 8}],
        {"type": "PositionalEmbedding", "max_len": 12},
    ),
    "PatchEmbedding": (
        [3, 8, 8],
        [],
        {"type": "PatchEmbedding", "embed_dim": 6, "patch_size": [2, 4], "cls_token": True},
    ),
    "SequencePool": ([5, 4], [], {"type": "SequencePool", "mode": "max"}),
    "LMHead": (
        [9],
        [{"type": "Embedding", "num_embeddings": 30, "embedding_dim": 8}],
        {"type": "LMHead", "vocab_size": 30},
    ),
}


def test_every_builtin_layer_has_a_case():
    # Pretrained needs a model folder or file on disk: tests/core/pretrained builds tiny ones and checks its outputs
    # against the source model, its parameter counts and its exports
    assert set(layer_types()) - {"Pretrained"} == set(CASES)


def _input(spec: ModelSpec, batch=3):
    torch.manual_seed(0)
    first = spec.layers[0].type
    if first in ("Embedding", "EmbeddingBag"):
        return torch.randint(0, 30, (batch, *spec.input_shape))
    return torch.randn(batch, *spec.input_shape)


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_builds_and_matches_the_analysis(name, tmp_path):
    shape, before, layer = CASES[name]
    spec = ModelSpec(input_shape=shape, layers=[*before, layer])
    analysis = analyze(spec, batch_size=3)
    assert analysis.ok, analysis.error
    report = analysis.layers[-1]
    model = build_model(spec).eval()
    x = _input(spec)
    with torch.no_grad():
        y = model(x)
    assert tuple(y.shape) == (3, *report.output_shape)
    assert tuple(y.shape[1:]) == analysis.output_shape
    real = sum(p.numel() for p in model[-1].parameters())
    assert report.num_params == real
    assert analysis.total_params == sum(p.numel() for p in model.parameters())
    assert analysis.trainable_params == sum(p.numel() for p in model.parameters() if p.requires_grad)

    # the exported file rebuilds the same module: same state dict keys, identical outputs
    path = export_code(spec, tmp_path / "exported.py")
    source = path.read_text()
    assert "workbench" not in source.split('"""', 2)[2]  # imports only torch (and torchvision in a helper)
    module_spec = importlib.util.spec_from_file_location("exported", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    exported = module.Model().eval()
    exported.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(exported(x), y)
    assert tuple(module.INPUT_SHAPE) == tuple(shape)


MAC_CASES = {  # hand-computed multiply-accumulates per sample
    "Linear": 20 * 7,
    "Conv1d": 4 * 8 * 3 * 3,  # out 4x8, each 3 in-channels x kernel 3
    "Conv2d": 6 * 5 * 7 * 1 * 3 * 2,  # out 6x5x7, groups 3 -> 1 in-channel each, kernel 3x2
    "ReLU": 0,
}


@pytest.mark.parametrize("name", sorted(MAC_CASES))
def test_macs_are_counted(name):
    shape, before, layer = CASES[name]
    analysis = analyze(ModelSpec(input_shape=shape, layers=[*before, layer]))
    assert analysis.layers[-1].macs == MAC_CASES[name]


def test_rules_agree_with_the_meta_device_fallback():
    """The fast rules and the meta-device measurement give the same MACs for convolutions and recurrent layers."""
    from torch.utils.flop_counter import FlopCounterMode

    for name in ("Conv2d", "ConvTranspose2d", "GRU", "Linear"):
        shape, before, layer = CASES[name]
        spec = ModelSpec(input_shape=shape, layers=[*before, layer])
        model = build_model(spec).eval()
        with FlopCounterMode(display=False) as flops, torch.no_grad():
            model(_input(spec, batch=1))
        assert analyze(spec).total_macs == flops.get_total_flops() // 2, name


def test_lstm_last_step_composes_with_linear():
    spec = ModelSpec(
        input_shape=[12],
        layers=[
            {"type": "Embedding", "num_embeddings": 50, "embedding_dim": 8},
            {"type": "LSTM", "hidden_size": 16, "bidirectional": True},
            {"type": "Linear", "out_features": 3},
        ],
    )
    analysis = analyze(spec)
    assert analysis.ok and analysis.layers[1].output_shape == (32,)
    y = build_model(spec)(torch.randint(0, 50, (4, 12)))
    assert y.shape == (4, 3)


def test_residual_without_shape_change_has_no_projection():
    spec = ModelSpec(
        input_shape=[16],
        layers=[{"type": "Residual", "layers": [{"type": "Linear", "out_features": 16}, {"type": "ReLU"}]}],
    )
    model = build_model(spec)
    assert model[0].projection is None
    x = torch.randn(2, 16)
    assert torch.allclose(model(x), model[0].body(x) + x)
    assert analyze(spec).layers[0].children[0].output_shape == (16,)
