"""Validation at the offending layer with a one-click fix, the head check, totals and memory, speed."""

from __future__ import annotations

import pytest

from workbench.core.errors import UserError
from workbench.core.model.analysis import analyze, apply_fix
from workbench.core.model.build import build_model
from workbench.core.model.spec import ModelSpec

CNN = [
    {"type": "Conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
    {"type": "ReLU"},
    {"type": "MaxPool2d", "kernel_size": 2},
    {"type": "Conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1},
    {"type": "ReLU"},
    {"type": "Flatten"},
    {"type": "Linear", "out_features": 64},
    {"type": "ReLU"},
    {"type": "Linear", "out_features": 10},
]


def spec(layers, shape=(1, 8, 8)):
    return ModelSpec(input_shape=list(shape), layers=layers)


def fixed(s: ModelSpec, **kw) -> ModelSpec:
    """Apply the fix offered at the first error and check it resolves it."""
    a = analyze(s, **kw)
    report = a.find(a.error_path)
    assert report.fix is not None, a.error
    return apply_fix(s, report.fix)


def test_missing_flatten_is_reported_at_the_linear_with_an_insert_fix():
    broken = spec([layer for layer in CNN if layer["type"] != "Flatten"])
    a = analyze(broken)
    assert not a.ok and a.error_path == (5,)
    assert (
        a.layers[5].type == "Linear"
        and "insert Flatten" in a.layers[5].error
        and "32x4x4" in a.layers[5].error
    )
    assert a.layers[4].output_shape == (32, 4, 4) and a.layers[6].output_shape is None
    repaired = fixed(broken)
    assert analyze(repaired).ok and repaired.layers[5].type == "Flatten"
    with pytest.raises(UserError, match=r"layer 5 \(Linear\)"):
        build_model(broken)


def test_wrong_explicit_in_features_offers_to_set_it():
    layers = [dict(layer) for layer in CNN]
    layers[6]["in_features"] = 100
    a = analyze(spec(layers))
    assert a.error_path == (6,) and "set in_features to 512" in a.error
    repaired = fixed(spec(layers))
    assert repaired.layers[6].params["in_features"] == 512 and analyze(repaired).ok


@pytest.mark.parametrize(
    ("layers", "shape", "path", "words"),
    [
        ([{"type": "Conv2d", "out_channels": 4, "kernel_size": 9}], (1, 8, 8), (0,), "larger than"),
        ([{"type": "Linear", "out_features": 0}], (5,), (0,), "at least 1"),
        ([{"type": "Linear", "out_features": -3}], (5,), (0,), "at least 1"),
        ([{"type": "Linear", "out_features": "ten"}], (5,), (0,), "whole number"),
        ([{"type": "Linear", "out_features": 4, "colour": 1}], (5,), (0,), "unknown parameter 'colour'"),
        ([{"type": "Conv7d"}], (5,), (0,), "unknown layer type"),
        ([{"type": "Flatten"}, {"type": "Conv2d"}], (1, 4, 4), (1,), "needs an image input"),
        ([{"type": "GroupNorm", "num_groups": 5}], (8, 2, 2), (0,), "must divide"),
        ([{"type": "BatchNorm2d"}], (8,), (0,), "Use BatchNorm1d"),
        ([{"type": "ReLU"}, {"type": "Embedding"}], (8,), (1,), "first layer"),
        ([{"type": "MaxPool2d", "kernel_size": 2}] * 4, (1, 8, 8), (3,), "larger than"),
        (
            [{"type": "Residual", "layers": [{"type": "Linear", "out_features": 3}, {"type": "Conv1d"}]}],
            (6,),
            (0, 1),
            "needs a channels x length",
        ),
    ],
)
def test_bad_layers_fail_at_the_offending_layer(layers, shape, path, words):
    a = analyze(spec(layers, shape))
    assert not a.ok
    assert a.error_path == path
    report = a.find(path)
    assert words.lower() in (report.error + (report.fix.label if report.fix else "")).lower()


@pytest.mark.parametrize(
    ("layers", "shape", "kw"),
    [
        ([{"type": "Conv2d", "out_channels": 4, "kernel_size": 9}, {"type": "Flatten"}], (1, 8, 8), {}),
        ([{"type": "Flatten"}, {"type": "Conv2d", "out_channels": 2}], (1, 6, 6), {}),
        ([{"type": "GroupNorm", "num_groups": 5}], (8, 2, 2), {}),
        ([{"type": "Linear", "out_features": 4}], (6,), {"input_dtype": "int64"}),
        ([{"type": "LSTM", "hidden_size": 4}], (6,), {}),
        ([{"type": "Dropout2d"}], (6,), {}),
    ],
)
def test_fixes_resolve_the_error(layers, shape, kw):
    repaired = fixed(spec(layers, shape), **kw)
    assert analyze(repaired, **kw).ok


def test_head_size_is_flagged_with_a_fix():
    a = analyze(spec(CNN), num_classes=3)
    assert a.ok and a.warnings
    assert a.layers[8].warning and "3 classes" in a.layers[8].warning
    repaired = apply_fix(spec(CNN), a.layers[8].warning_fix)
    assert analyze(repaired, num_classes=3).warnings == []
    assert analyze(spec(CNN), num_classes=10).warnings == []
    # a network that ends in an image gets Flatten + Linear appended
    conv_only = spec(CNN[:3])
    a = analyze(conv_only, num_classes=10)
    repaired = apply_fix(conv_only, a.layers[-1].warning_fix)
    assert analyze(repaired).output_shape == (10,)


def test_totals_and_activations():
    """The training memory is traced by core/memory (tests/core/memory); the analysis counts outputs only."""
    a = analyze(spec(CNN), batch_size=32)
    assert a.total_params == 160 + 4640 + 32832 + 650
    assert a.size_mb == pytest.approx(a.total_params * 4 / 1e6)
    values = 64 + sum(r.activations for r in a.layers)
    assert a.activation_bytes == 32 * values * 4
    assert "training_bytes" not in a.to_dict()
    assert analyze(spec(CNN), batch_size=64).activation_bytes == 2 * a.activation_bytes
    assert a.total_macs == sum(r.macs for r in a.layers) > 0


def test_empty_network_is_an_error():
    a = analyze(spec([]))
    assert not a.ok and "no layers" in a.error
    with pytest.raises(UserError, match="no layers"):
        build_model(spec([]))


def test_apply_fix_leaves_the_original_untouched():
    broken = spec([{"type": "Linear", "out_features": 2}], (1, 4, 4))
    before = broken.to_dict()
    fixed(broken)
    assert broken.to_dict() == before


def test_an_edit_recomputes_only_the_layers_whose_input_changed(monkeypatch):
    """A 50-layer network: after one edit, only the edited layer and the one reading its output are worked out
    again; every other layer comes from the cache (bench/builder.py times it: well under 100 ms)."""
    import workbench.core.model.analysis as analysis

    layers = [{"type": "Conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1}]
    for i in range(24):
        layers += [
            {"type": "Conv2d", "out_channels": 16 + i % 3, "kernel_size": 3, "padding": 1},
            {"type": "ReLU"},
        ]
    s = spec(layers[:49] + [{"type": "Flatten"}], (3, 32, 32))
    assert len(s.layers) == 50
    before = analyze(s)
    worked_out = []
    real_stats = analysis._stats
    monkeypatch.setattr(analysis, "_stats", lambda lt, *a: worked_out.append(lt.name) or real_stats(lt, *a))
    assert analyze(s).total_params == before.total_params and worked_out == []  # a redraw: all cached
    edited = s.model_copy(deep=True)
    edited.layers[9].out_channels = 33
    after = analyze(edited, batch_size=64)
    assert after.ok and worked_out == ["Conv2d", "ReLU", "Conv2d"]  # the edit, its ReLU, the next conv
    assert after.layers[9].output_shape == (33, 32, 32) and after.total_params > before.total_params
