"""The example plugins in plugins/: SqueezeExcite builds, trains, exports to ONNX and to standalone code;
synthetic shapes is a real, reproducible data source a network can learn."""

from __future__ import annotations

import ast
import importlib.util
import json

import numpy as np
import pytest
import torch

from workbench.cli import main as cli_main
from workbench.core.data import DatasetSettings, load_dataset
from workbench.core.errors import UserError
from workbench.core.model.analysis import analyze
from workbench.core.model.build import build_model
from workbench.core.model.spec import ModelSpec
from workbench.core.project import Project
from workbench.core.training.config import TrainingConfig

SE_CNN = {
    "input_shape": [1, 8, 8],
    "layers": [
        {"type": "Conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
        {"type": "ReLU"},
        {"type": "SqueezeExcite", "reduction": 4},
        {"type": "MaxPool2d", "kernel_size": 2},
        {"type": "Flatten"},
        {"type": "Linear", "out_features": 10},
    ],
}


@pytest.fixture
def plugins(make_manager):
    return make_manager()


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_squeeze_excite_rules_match_the_built_module(plugins):
    for shape, reduction in (((16, 8, 8), 4), ((3, 5, 7), 16), ((64, 2, 2), 8)):
        spec = ModelSpec(input_shape=list(shape), layers=[{"type": "SqueezeExcite", "reduction": reduction}])
        a = analyze(spec)
        assert a.ok, a.error
        model = build_model(spec)
        x = torch.randn(2, *shape)
        y = model(x)
        assert tuple(y.shape[1:]) == a.output_shape == shape
        assert a.total_params == sum(p.numel() for p in model.parameters())
        assert a.layers[0].params == {"channels": shape[0], "reduction": reduction}
        gate = y / x  # one gate value in (0, 1) per sample and channel
        assert torch.allclose(gate, gate[..., :1, :1].expand_as(gate), atol=1e-5)
        assert bool(((gate > 0) & (gate < 1)).all())


def test_squeeze_excite_on_a_flat_input_is_an_error_at_the_layer(plugins):
    a = analyze(ModelSpec(input_shape=[1, 8, 8], layers=[{"type": "Flatten"}, {"type": "SqueezeExcite"}]))
    assert a.error_path == (1,)
    assert "SqueezeExcite needs a CxHxW feature map but receives 64" in a.layers[1].error
    a = analyze(ModelSpec(input_shape=[4, 8, 8], layers=[{"type": "SqueezeExcite", "channels": 3}]))
    assert a.layers[0].fix is not None and a.layers[0].fix.layer == {"channels": 4}


def test_squeeze_excite_trains_one_epoch_and_exports_to_onnx(plugins, tmp_path, one_thread):
    from workbench.core.export.pipeline import export
    from workbench.core.export.settings import ExportSettings
    from workbench.core.export.source import source_from_checkpoint
    from workbench.core.training.loop import train

    data = load_dataset(DatasetSettings())
    project = Project(
        model=ModelSpec.model_validate(SE_CNN),
        training=TrainingConfig(epochs=1, batch_size=32, lr=3e-3, seed=0, device="cpu"),
    )
    events = list(train(project, data, runs_root=tmp_path / "runs"))
    finished = events[-1]
    assert finished.kind == "finished" and finished.status == "completed", finished.message
    epoch = next(e for e in events if e.kind == "epoch")
    assert epoch.val_accuracy > 0.5  # one epoch on digits: well above chance (0.1)
    run = tmp_path / "runs" / events[0].run_id
    assert json.loads((run / "config.json").read_text())["model"]["layers"][2]["type"] == "SqueezeExcite"

    report = export(
        source_from_checkpoint(run / "checkpoints" / "best.safetensors"),
        ExportSettings(format="onnx"),
        tmp_path / "se.onnx",
    )
    assert (tmp_path / "se.onnx").is_file() and report.checker_ok
    assert report.max_abs_diff < 1e-4 and report.top1_agreement == 1.0
    import onnx

    ops = {node.op_type for node in onnx.load(str(tmp_path / "se.onnx")).graph.node}
    assert {"ReduceMean", "Sigmoid", "Mul"} <= ops  # the SE block is in the graph, not folded away


def test_model_code_writes_squeeze_excite_into_a_standalone_file(plugins, tmp_path, capsys):
    spec_path = tmp_path / "se.json"
    spec_path.write_text(json.dumps(SE_CNN))
    assert cli_main(["model", "code", str(spec_path), "-o", str(tmp_path / "se_model.py")]) == 0
    source = (tmp_path / "se_model.py").read_text()
    assert "class SqueezeExcite(nn.Module)" in source and "SqueezeExcite(16, reduction=4)" in source
    imports = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imports |= {
        node.module.split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imports == {"__future__", "torch"}  # standalone: no Workbench, no plugin module
    spec = importlib.util.spec_from_file_location("se_model_standalone", tmp_path / "se_model.py")
    standalone = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(standalone)
    torch.manual_seed(0)
    model = build_model(ModelSpec.model_validate(SE_CNN)).eval()
    exported = standalone.Model().eval()
    exported.load_state_dict(model.state_dict())  # the same state-dict keys and shapes
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(exported(x), model(x), atol=1e-6)


def test_shapes_source_is_balanced_reproducible_and_validated(plugins):
    settings = DatasetSettings(
        kind="shapes", source="shapes", options={"size": 20, "per_class": 30, "seed": 3}
    )
    a, b = load_dataset(settings), load_dataset(settings)
    assert a.meta.class_names == ["circle", "square", "triangle", "cross"] and a.meta.input_shape == (
        1,
        20,
        20,
    )
    total = sum(len(s) for s in (a.train, a.val, a.test))
    assert total == 120
    labels = torch.cat([a.train.y, a.val.y, a.test.y])
    assert torch.bincount(labels).tolist() == [30, 30, 30, 30]
    assert torch.equal(a.train.x, b.train.x)
    other = load_dataset(settings.model_copy(update={"options": {"size": 20, "per_class": 30, "seed": 4}}))
    assert not torch.equal(a.train.x, other.train.x)
    rgb = load_dataset(
        DatasetSettings(kind="shapes", source="shapes", options={"color": "rgb", "per_class": 10})
    )
    assert rgb.meta.input_shape == (3, 16, 16)
    with pytest.raises(UserError, match=r"size = 4 is out of range; the limit is 8\.\.128"):
        load_dataset(DatasetSettings(kind="shapes", source="shapes", options={"size": 4}))


def test_shapes_are_the_shapes_they_say(plugins):
    """Without noise, a circle covers ~pi r^2 and a cross is thin: the drawn masks have the right areas."""
    from workbench_plugins.synthetic_shapes import draw

    rng = np.random.default_rng(0)
    fill = {}
    for label, name in enumerate(["circle", "square", "triangle", "cross"]):
        fill[name] = np.mean(
            [draw(label, 64, np.random.default_rng(rng.integers(1 << 30))).mean() for _ in range(40)]
        )
    assert fill["circle"] > fill["square"] > fill["triangle"] and fill["circle"] > fill["cross"]
    assert 0.3 < fill["circle"] < 0.35  # pi * (0.31 * 64)^2 / 64^2 ~ 0.30..0.33


def test_a_network_learns_the_shapes(plugins, tmp_path, one_thread):
    from workbench.core.training.loop import train

    data = load_dataset(
        DatasetSettings(kind="shapes", source="shapes", options={"per_class": 150, "noise": 0.05})
    )
    spec = {
        "input_shape": [1, 16, 16],
        "layers": [
            {"type": "Conv2d", "out_channels": 12, "kernel_size": 3, "padding": 1},
            {"type": "ReLU"},
            {"type": "SqueezeExcite", "reduction": 4},
            {"type": "MaxPool2d", "kernel_size": 2},
            {"type": "Conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
            {"type": "ReLU"},
            {"type": "AdaptiveAvgPool2d", "output_size": 1},
            {"type": "Flatten"},
            {"type": "Linear", "out_features": 4},
        ],
    }
    project = Project(
        model=ModelSpec.model_validate(spec),
        training=TrainingConfig(epochs=6, batch_size=32, lr=1e-2, seed=0, device="cpu"),
    )
    events = list(train(project, data, runs_root=tmp_path / "runs"))
    assert events[-1].status == "completed", events[-1].message
    best = max(e.val_accuracy for e in events if e.kind == "epoch")
    assert best > 0.6, best  # chance is 0.25


def test_cli_sees_the_example_plugins(tmp_path, capsys):
    from workbench.plugins.manager import reset_plugins

    try:
        assert cli_main(["data", "inspect", "shapes", "--kind", "shapes", "--json"]) == 0
        inspected = json.loads(capsys.readouterr().out)
        assert inspected["num_classes"] == 4 and inspected["input_shape"] == [1, 16, 16]
        assert cli_main(["plugins", "list", "--json"]) == 0
        listing = json.loads(capsys.readouterr().out)
        status = {p["id"]: p["status"] for p in listing["plugins"]}
        assert status["squeeze_excite"] == status["synthetic_shapes"] == "loaded"
        assert cli_main(["plugins", "disable", "synthetic_shapes"]) == 0
        assert "disabled from the next start" in capsys.readouterr().out
        reset_plugins()  # the next command is a fresh start
        assert cli_main(["data", "inspect", "shapes", "--kind", "shapes", "--json"]) == 2
        assert (
            "unknown data kind 'shapes': it comes from the plugin 'Synthetic shapes', which is disabled"
            in capsys.readouterr().err
        )
        assert cli_main(["plugins", "disable", "builtin.layers"]) == 2
        assert "built in and cannot be disabled" in capsys.readouterr().err
        assert cli_main(["plugins", "enable", "nope"]) == 2
        assert "no plugin with the id 'nope'" in capsys.readouterr().err
    finally:
        reset_plugins()
