"""Hypothesis fuzz of the project and spec loaders: whatever a file holds (any JSON-like document, any bytes,
a real project with one value replaced), loading it either works or raises UserError (never another
exception), and the file is never modified."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.core.errors import UserError
from workbench.core.model.spec import load_spec
from workbench.core.paths import SAMPLE_PROJECT
from workbench.core.project import load_project

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SAMPLE = json.loads(SAMPLE_PROJECT.read_text(encoding="utf-8"))

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
json_like = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
keys = st.sampled_from(
    [
        "format_version",
        "name",
        "dataset",
        "model",
        "training",
        "export",
        "input_shape",
        "layers",
        "type",
        "kind",
        "source",
        "split",
        "options",
        "epochs",
        "lr",
        "out_features",
        "__class__",
    ]
)
# documents shaped like the real ones, so the fuzz reaches the nested validators, not just the top level
shaped = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(keys | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=30,
)


def _paths(doc):
    """Every (container, key) in a document, to replace one value."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield doc, key
            yield from _paths(value)
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield doc, i
            yield from _paths(value)


def _load_untouched(loader, path: Path, data: bytes) -> None:
    path.write_bytes(data)
    beside = sorted(p.name for p in path.parent.iterdir())
    try:
        loader(path)
    except UserError as exc:
        assert path.name in str(exc)  # the message names the file it is about
    assert path.read_bytes() == data
    assert sorted(p.name for p in path.parent.iterdir()) == beside  # nothing written beside it


@pytest.fixture
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(doc=json_like | shaped)
def test_project_loader_any_json(folder, doc):
    _load_untouched(load_project, folder / "p.wbproj", json.dumps(doc).encode())


@FUZZ
@given(doc=json_like | shaped)
def test_spec_loader_any_json(folder, doc):
    _load_untouched(load_spec, folder / "spec.json", json.dumps(doc).encode())


@FUZZ
@given(data=st.binary(max_size=400) | st.text(max_size=200).map(str.encode))
def test_both_loaders_any_bytes(folder, data):
    _load_untouched(load_project, folder / "p.wbproj", data)
    _load_untouched(load_spec, folder / "spec.json", data)


@FUZZ
@given(data=st.data(), value=json_like)
def test_real_project_with_one_value_replaced(folder, data, value):
    doc = copy.deepcopy(SAMPLE)
    container, key = data.draw(st.sampled_from(list(_paths(doc))))
    container[key] = value
    _load_untouched(load_project, folder / "p.wbproj", json.dumps(doc).encode())
    _load_untouched(
        load_spec,
        folder / "spec.json",
        json.dumps(doc["model"] if isinstance(doc, dict) and "model" in doc else doc).encode(),
    )


@FUZZ
@given(data=st.data())
def test_real_project_cut_anywhere(folder, data):
    text = SAMPLE_PROJECT.read_bytes()
    cut = data.draw(st.integers(0, len(text) - 1))
    _load_untouched(load_project, folder / "p.wbproj", text[:cut])


def test_spec_analysis_of_fuzzed_layers_never_raises():
    """Past the loader: analysing a valid document with arbitrary layer parameters reports, never raises."""
    from workbench.core.model.analysis import analyze
    from workbench.core.model.spec import ModelSpec

    layer_types = [
        "Linear",
        "Conv2d",
        "MaxPool2d",
        "BatchNorm2d",
        "Dropout",
        "Flatten",
        "ReLU",
        "Embedding",
        "LSTM",
        "Residual",
        "TorchvisionModel",
        "AdaptiveAvgPool2d",
        "Conv1d",
        "LayerNorm",
        "Frobnicate",
    ]
    params = st.dictionaries(
        st.sampled_from(
            [
                "out_features",
                "out_channels",
                "kernel_size",
                "stride",
                "padding",
                "p",
                "bias",
                "num_embeddings",
                "embedding_dim",
                "hidden_size",
                "output_size",
                "name",
                "num_classes",
                "normalized_shape",
                "layers",
            ]
        ),
        json_like,
        max_size=4,
    )
    layer = st.builds(lambda t, p: {**p, "type": t}, st.sampled_from(layer_types), params)

    @settings(max_examples=150, deadline=None)
    @given(layers=st.lists(layer, max_size=4), shape=st.lists(st.integers(1, 40), min_size=1, max_size=3))
    def check(layers, shape):
        try:
            spec = ModelSpec.model_validate({"input_shape": shape, "layers": layers})
        except Exception:  # noqa: BLE001 - the loader's job (covered above); here: valid documents only
            return
        result = analyze(spec)
        assert result.ok or result.error

    check()
