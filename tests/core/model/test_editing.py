"""Spec edits by path, as the builder's undoable commands use them."""

from __future__ import annotations

import pytest

from workbench.core.model import editing
from workbench.core.model.analysis import analyze
from workbench.core.model.spec import ModelSpec

SPEC = ModelSpec(
    input_shape=[8],
    layers=[
        {"type": "Linear", "out_features": 8},
        {"type": "ReLU"},
        {"type": "Residual", "layers": [{"type": "Linear", "out_features": 8}, {"type": "Tanh"}]},
        {"type": "Linear", "out_features": 3},
    ],
)


def names(spec, parent=()):
    layers = spec.layers if not parent else editing.layer_at(spec, parent)["layers"]
    return [layer.type if hasattr(layer, "type") else layer["type"] for layer in layers]


def test_move_within_and_across_bodies():
    after, path = editing.move(SPEC, (1,), (), 0)
    assert names(after) == ["ReLU", "Linear", "Residual", "Linear"] and path == (0,)
    after, path = editing.move(SPEC, (0,), (), 2)  # index counted before the removal
    assert names(after) == ["ReLU", "Linear", "Residual", "Linear"] and path == (1,)
    after, path = editing.move(SPEC, (1,), (2,), 1)  # into the body of the Residual after it
    assert names(after) == ["Linear", "Residual", "Linear"] and path == (1, 1)
    assert names(after, (1,)) == ["Linear", "ReLU", "Tanh"]
    after, path = editing.move(SPEC, (2, 1), (), 4)  # out of the body, to the end
    assert names(after)[-1] == "Tanh" and path == (4,) and names(after, (2,)) == ["Linear"]
    with pytest.raises(ValueError):
        editing.move(SPEC, (2,), (2,), 0)
    assert names(SPEC) == ["Linear", "ReLU", "Residual", "Linear"]  # untouched


def test_insert_remove_duplicate_set():
    after = editing.insert(SPEC, (2,), 0, {"type": "LayerNorm"})
    assert names(after, (2,)) == ["LayerNorm", "Linear", "Tanh"] and analyze(after).ok
    after = editing.duplicate(SPEC, (2,))
    assert names(after) == ["Linear", "ReLU", "Residual", "Residual", "Linear"]
    after = editing.set_param(SPEC, (0,), "in_features", 8)
    assert after.layers[0].params["in_features"] == 8
    assert "in_features" not in editing.set_param(after, (0,), "in_features", None).layers[0].params
    assert names(editing.remove(SPEC, (2, 1)), (2,)) == ["Linear"]
    assert editing.set_input_shape(SPEC, (4,)).input_shape == [4]


def test_new_layers_fit_where_they_land():
    assert analyze(editing.insert(SPEC, (), 1, editing.new_layer("Residual", (8,)))).ok
    image = ModelSpec(input_shape=[3, 8, 8], layers=[{"type": "Conv2d", "out_channels": 5}])
    block = editing.new_layer("Residual", (5, 6, 6))
    assert analyze(editing.insert(image, (), 1, block)).layers[1].output_shape == (5, 6, 6)
    assert editing.new_layer("Unflatten", (12,))["unflattened_size"] == [12, 1]
    encoder = editing.new_layer("TransformerEncoderLayer", (10, 30))  # 4 heads do not divide 30 features
    assert encoder == {"type": "TransformerEncoderLayer", "nhead": 3, "dim_feedforward": 120}
    text = ModelSpec(input_shape=[10, 30], layers=[])
    assert analyze(editing.insert(text, (), 0, encoder)).ok
    assert editing.new_layer("MultiheadAttention", (7, 64)) == {"type": "MultiheadAttention", "num_heads": 4}
