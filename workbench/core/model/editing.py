"""Edits on a spec by layer path ((3,) is the fourth layer, (3, 1) the second layer in its body). Each returns a
new spec and leaves the old one untouched, so an editor can keep both for undo."""

from __future__ import annotations

import copy
from typing import Any

from workbench.core.model.registry import get_layer_type
from workbench.core.model.spec import ModelSpec

Path = tuple[int, ...]


def _doc(spec: ModelSpec) -> dict[str, Any]:
    return copy.deepcopy(spec.to_dict())


def _siblings(doc: dict, parent: Path) -> list:
    layers = doc["layers"]
    for i in parent:
        layers = layers[i].setdefault("layers", [])
    return layers


def layer_at(spec: ModelSpec, path: Path) -> dict[str, Any]:
    doc = spec.to_dict()
    return _siblings(doc, tuple(path[:-1]))[path[-1]]


def exists(spec: ModelSpec, path: Path) -> bool:
    try:
        layer_at(spec, path)
        return True
    except (IndexError, KeyError, TypeError):
        return False


def new_layer(type_name: str, in_shape=None) -> dict[str, Any]:
    """A fresh layer with what it needs to work where it lands: a Residual gets a body that keeps the shape."""
    get_layer_type(type_name)
    layer: dict[str, Any] = {"type": type_name}
    if type_name == "Residual":
        if in_shape is not None and len(in_shape) == 3:
            layer["layers"] = [
                {"type": "Conv2d", "out_channels": in_shape[0], "kernel_size": 3, "padding": 1},
                {"type": "BatchNorm2d"},
                {"type": "ReLU"},
            ]
        else:
            width = in_shape[-1] if in_shape else 64
            layer["layers"] = [{"type": "Linear", "out_features": width}, {"type": "ReLU"}]
    elif type_name == "Unflatten" and in_shape is not None and len(in_shape) == 1:
        layer["unflattened_size"] = [in_shape[0], 1]
    elif type_name in _HEADS and in_shape is not None and len(in_shape) == 2:
        layer.update(_attention_sizes(type_name, in_shape[-1]))
    return layer


_HEADS = {
    "MultiheadAttention": "num_heads",
    "TransformerEncoderLayer": "nhead",
    "TransformerDecoderLayer": "nhead",
}


def _attention_sizes(type_name: str, width: int) -> dict[str, Any]:
    """Heads that divide the width (4 when they do, else the nearest count that does) and, for a Transformer
    layer, a feed-forward 4x the width (as BERT and GPT-2) rather than torch's fixed 2048."""
    heads = min((h for h in range(1, width + 1) if width % h == 0), key=lambda h: (abs(h - 4), h))
    out: dict[str, Any] = {_HEADS[type_name]: heads}
    if type_name != "MultiheadAttention":
        out["dim_feedforward"] = 4 * width
    return out


def insert(spec: ModelSpec, parent: Path, index: int, layers: dict | list[dict]) -> ModelSpec:
    doc = _doc(spec)
    siblings = _siblings(doc, tuple(parent))
    new = layers if isinstance(layers, list) else [layers]
    index = max(0, min(index, len(siblings)))
    siblings[index:index] = copy.deepcopy(new)
    return ModelSpec.model_validate(doc)


def remove(spec: ModelSpec, path: Path) -> ModelSpec:
    doc = _doc(spec)
    del _siblings(doc, tuple(path[:-1]))[path[-1]]
    return ModelSpec.model_validate(doc)


def duplicate(spec: ModelSpec, path: Path) -> ModelSpec:
    return insert(spec, tuple(path[:-1]), path[-1] + 1, layer_at(spec, path))


def move(spec: ModelSpec, path: Path, parent: Path, index: int) -> tuple[ModelSpec, Path]:
    """Move the layer at `path` to position `index` of `parent`'s layers (index counted before the removal).
    Returns the new spec and the layer's new path. Moving a composite into its own body is refused."""
    path, parent = tuple(path), tuple(parent)
    if parent[: len(path)] == path:
        raise ValueError("cannot move a layer into itself")
    doc = _doc(spec)
    source = _siblings(doc, path[:-1])
    layer = source.pop(path[-1])
    if parent[: len(path) - 1] == path[:-1] and len(parent) >= len(path) and parent[len(path) - 1] > path[-1]:
        parent = (
            *parent[: len(path) - 1],
            parent[len(path) - 1] - 1,
            *parent[len(path) :],
        )  # an earlier sibling left
    if parent == path[:-1] and index > path[-1]:
        index -= 1
    target = _siblings(doc, parent)
    index = max(0, min(index, len(target)))
    target.insert(index, layer)
    return ModelSpec.model_validate(doc), (*parent, index)


def set_param(spec: ModelSpec, path: Path, key: str, value: Any) -> ModelSpec:
    """Set one constructor argument (None removes it, so an inferred size is inferred again)."""
    doc = _doc(spec)
    layer = _siblings(doc, tuple(path[:-1]))[path[-1]]
    if value is None:
        layer.pop(key, None)
    else:
        layer[key] = copy.deepcopy(value)
    return ModelSpec.model_validate(doc)


def set_input_shape(spec: ModelSpec, shape) -> ModelSpec:
    doc = _doc(spec)
    doc["input_shape"] = [int(d) for d in shape]
    return ModelSpec.model_validate(doc)
