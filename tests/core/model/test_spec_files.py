"""Spec JSON files: save/load round trip, clear errors, and a hypothesis fuzz of the loader and analysis."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.core.errors import UserError
from workbench.core.model.analysis import analyze
from workbench.core.model.spec import ModelSpec, load_spec, save_spec, spec_from_dict
from workbench.core.paths import SAMPLE_PROJECT


def test_round_trip(tmp_path):
    spec = ModelSpec(
        input_shape=[3, 8, 8],
        layers=[
            {"type": "Residual", "layers": [{"type": "Conv2d", "out_channels": 3, "padding": 1}]},
            {"type": "Flatten"},
            {"type": "Linear", "out_features": 4},
        ],
    )
    save_spec(spec, tmp_path / "net.json")
    assert load_spec(tmp_path / "net.json") == spec
    assert json.loads((tmp_path / "net.json").read_text())["layers"][0]["layers"][0]["out_channels"] == 3


def test_project_file_gives_its_model():
    spec = load_spec(SAMPLE_PROJECT)
    assert spec.input_shape == [1, 8, 8] and analyze(spec).ok


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "is empty"),
        ("{nope", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"format_version": 7, "layers": []}', "newer than this Workbench"),
        ('{"input_shape": [1, 0, 8], "layers": []}', "input_shape"),
        ('{"input_shape": "8x8", "layers": []}', "input_shape"),
        ('{"layers": [{"out_features": 3}]}', "layers.0.type"),
        ('{"layers": [{"type": 5}]}', "layers.0.type"),
        ('{"layers": {"type": "ReLU"}}', "layers"),
        ('{"layers": [], "colour": "red"}', "colour"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path, text, words):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(UserError, match=words):
        load_spec(path)


def test_missing_file():
    with pytest.raises(UserError, match="not found"):
        load_spec("/nonexistent/net.json")


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2**40) | st.floats(allow_nan=True) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_types = st.sampled_from(
    [
        "Linear",
        "Conv2d",
        "ReLU",
        "Flatten",
        "Residual",
        "LSTM",
        "Embedding",
        "MaxPool2d",
        "BatchNorm1d",
        "Unflatten",
        "Nope",
        "Softmax",
        "GroupNorm",
        "LayerNorm",
    ]
)
_keys = st.sampled_from(
    [
        "out_features",
        "in_features",
        "kernel_size",
        "padding",
        "stride",
        "out_channels",
        "dim",
        "num_groups",
        "unflattened_size",
        "hidden_size",
        "output",
        "p",
        "start_dim",
        "layers",
    ]
)
_layer = st.fixed_dictionaries(
    {"type": _types}, optional={"extra": st.dictionaries(_keys, _json, max_size=3)}
)


def _flatten_extra(layer):
    out = {"type": layer["type"]}
    out.update(layer.get("extra", {}))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    doc=st.one_of(
        _json,
        st.fixed_dictionaries(
            {
                "input_shape": st.one_of(st.lists(st.integers(-2, 40), max_size=4), _json),
                "layers": st.lists(_layer.map(_flatten_extra), max_size=6),
            },
            optional={"format_version": st.integers(-1, 3)},
        ),
    )
)
def test_fuzzed_specs_load_or_fail_cleanly(doc):
    """Any JSON document either loads and analyzes (ok or an error at a layer) or raises UserError."""
    try:
        spec = spec_from_dict(doc)
    except UserError as exc:
        assert str(exc)
        return
    result = analyze(spec, batch_size=2, num_classes=3)
    assert result.ok or result.error
    json.dumps(result.to_dict())
