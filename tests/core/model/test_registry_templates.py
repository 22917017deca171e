"""The registry is the plugin door; templates fit the dataset; torchvision backbones adapt and load local weights."""

from __future__ import annotations

import pytest
import torch

from workbench.core.errors import UserError
from workbench.core.model.analysis import analyze
from workbench.core.model.build import build_model
from workbench.core.model.codegen import generate_code
from workbench.core.model.registry import (
    LayerError,
    LayerType,
    Param,
    get_layer_type,
    layer_types,
    register_layer,
    unregister_layer,
)
from workbench.core.model.spec import ModelSpec
from workbench.core.model.templates import TEMPLATES, make_template, templates_for


def test_a_plugin_layer_registers_like_a_builtin():
    def infer(p, s):
        if len(s) != 1:
            raise LayerError("Scale needs flat features")
        return p

    def build(p, s):
        class Scale(torch.nn.Module):
            def __init__(self, factor):
                super().__init__()
                self.factor = factor

            def forward(self, x):
                return x * self.factor

        return Scale(p["factor"])

    register_layer(
        LayerType(
            "Scale",
            "Core",
            (Param("factor", "float", 2.0, 0, 10, doc="multiplier"),),
            build=build,
            infer=infer,
            code=lambda p, s: f"nn.Identity()  # x{p['factor']}",
        )
    )
    try:
        assert "Scale" in layer_types()
        spec = ModelSpec(input_shape=[4], layers=[{"type": "Scale", "factor": 3}])
        a = analyze(spec)  # no shape rule: measured on the meta device
        assert a.ok and a.output_shape == (4,) and a.total_params == 0
        assert torch.equal(build_model(spec)(torch.ones(1, 4)), torch.full((1, 4), 3.0))
        assert not analyze(ModelSpec(input_shape=[4], layers=[{"type": "Scale", "factor": 11}])).ok
        assert not analyze(ModelSpec(input_shape=[2, 2], layers=[{"type": "Scale"}])).ok
        with pytest.raises(ValueError, match="already registered"):
            register_layer(get_layer_type("Scale"))
    finally:
        unregister_layer("Scale")
    with pytest.raises(UserError, match="unknown layer type"):
        get_layer_type("Scale")


def test_builtins_carry_a_complete_schema():
    for lt in layer_types().values():
        assert lt.category and lt.doc, lt.name
        for param in lt.params:
            assert param.doc, f"{lt.name}.{param.name} has no tooltip"
            if param.kind == "choice":
                assert param.default in param.choices


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (1, 28, 28), (64,)])
def test_templates_fit_the_dataset(shape):
    names = [t.name for t in templates_for(shape)]
    assert "mlp" in names and ("lenet5" in names) == (len(shape) == 3)
    for name in names:
        if name == "backbone":
            continue  # covered below; torchvision is slow to import
        spec = make_template(name, shape, 7)
        a = analyze(spec, num_classes=7)
        assert a.ok, (name, a.error)
        assert a.output_shape == (7,) and not a.warnings


def test_text_template_takes_tokens():
    names = [t.name for t in templates_for((20,), "int64", "classification")]
    assert "text_lstm" in names and "bert_classifier" in names and "gpt_lm" not in names
    assert [t.name for t in templates_for((20,), "int64", "language_model")] == ["gpt_lm"]
    spec = make_template("text_lstm", (20,), 4, "int64", vocab_size=300)
    a = analyze(spec, num_classes=4, input_dtype="int64")
    assert a.ok and spec.layers[0].params["num_embeddings"] == 300
    assert build_model(spec)(torch.randint(0, 300, (2, 20))).shape == (2, 4)


def test_bad_template_requests():
    with pytest.raises(UserError, match="unknown template"):
        make_template("transformer", (1, 8, 8), 10)
    with pytest.raises(UserError, match="needs an image"):
        make_template("lenet5", (64,), 10)
    assert set(TEMPLATES) >= {"mlp", "lenet5", "small_vgg", "small_resnet", "backbone"}


def test_backbone_adapts_channels_and_small_inputs_and_loads_local_weights(tmp_path):
    from safetensors.torch import save_file

    spec = make_template("backbone", (1, 12, 12), 3, backbone="mobilenet_v3_small")
    a = analyze(spec, num_classes=3)
    assert a.ok and a.output_shape == (3,) and a.total_macs > 0
    model = build_model(spec).eval()
    assert model[0].features[0][0].in_channels == 1 and model[0].features[0][0].stride == (1, 1)
    assert a.total_params == sum(p.numel() for p in model.parameters())
    assert "import torchvision" in generate_code(spec)

    # weights from a 1000-class checkpoint: the backbone loads, the new head stays fresh
    import torchvision

    source = torchvision.models.mobilenet_v3_small(weights=None)
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    save_file(state, tmp_path / "w.safetensors")
    torch.save(state, tmp_path / "w.pt")
    for name in ("w.safetensors", "w.pt"):
        spec = ModelSpec(
            input_shape=[3, 64, 64],
            layers=[
                {
                    "type": "TorchvisionModel",
                    "name": "mobilenet_v3_small",
                    "num_classes": 3,
                    "weights_path": str(tmp_path / name),
                }
            ],
        )
        loaded = build_model(spec)[0]
        key = "features.3.block.0.0.weight"
        assert torch.equal(loaded.state_dict()[key], state[key])
        assert loaded.classifier[-1].out_features == 3
    bad = ModelSpec(
        input_shape=[3, 64, 64], layers=[{"type": "TorchvisionModel", "weights_path": "/no/file.pt"}]
    )
    with pytest.raises(UserError, match="does not exist"):
        build_model(bad)
