"""Bad input gives one clear message and leaves nothing on disk; every builder layer and torchvision backbones
export with parity; Cancel leaves no file."""

from __future__ import annotations

import errno
import threading

import pytest
import torch

from workbench.core.errors import Cancelled, UserError
from workbench.core.export.pipeline import ExportFinished, export, run_export
from workbench.core.export.settings import ExportSettings
from workbench.core.export.source import source_from_checkpoint, source_from_model, source_from_spec
from workbench.core.model.spec import ModelSpec


def test_cancel_before_and_during_calibration_leaves_no_file(source, tmp_path):
    cancel = threading.Event()
    events = run_export(source, ExportSettings(format="onnx"), tmp_path / "m.onnx", cancel)
    next(events)
    cancel.set()
    with pytest.raises(Cancelled):
        list(events)
    assert list(tmp_path.iterdir()) == []
    # closing the generator while the calibration thread runs stops it and cleans up too
    events = run_export(
        source, ExportSettings(format="onnx-int8-static", calibration_samples=512), tmp_path / "s.onnx"
    )
    for event in events:
        if event.stage == "calibrate":
            break
    events.close()
    assert list(tmp_path.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("wb-")]


def test_unwritable_destination_and_full_disk(source, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="cannot write to .*a-file.*choose a writable folder"):
        export(source, ExportSettings(format="onnx"), blocker / "m.onnx")
    out = tmp_path / "out"
    out.mkdir()

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("onnx.save_model", full_disk)
    with pytest.raises(UserError, match="no space left.*free some space"):
        export(source, ExportSettings(format="onnx-fp16", verify_samples=16), out / "m.onnx")
    assert list(out.iterdir()) == []


def test_calibration_set_too_small(source, tmp_path):
    with pytest.raises(UserError, match="calibration set too small: 4 samples; use at least 16"):
        export(source, ExportSettings(format="onnx-int8-static", calibration_samples=4), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_that_does_not_match_its_spec_names_the_tensor(tmp_path):
    from workbench.core.model.build import build_model
    from workbench.core.training.checkpoints import save_checkpoint

    small = ModelSpec.model_validate({"input_shape": [4], "layers": [{"type": "Linear", "out_features": 3}]})
    big = ModelSpec.model_validate({"input_shape": [4], "layers": [{"type": "Linear", "out_features": 5}]})
    save_checkpoint(tmp_path / "c.safetensors", build_model(big), small)
    with pytest.raises(UserError, match="tensor '0.weight' has shape"):
        source_from_checkpoint(tmp_path / "c.safetensors")


def test_untrained_model_is_exported_with_a_warning(tmp_path, digits):
    spec = ModelSpec.model_validate(
        {"input_shape": [1, 8, 8], "layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 10}]}
    )
    report = export(
        source_from_spec(spec, data=digits),
        ExportSettings(format="onnx", verify_samples=64),
        tmp_path / "u.onnx",
    )
    assert report.checker_ok and (tmp_path / "u.onnx").is_file()
    assert any("untrained" in w for w in report.warnings)


def test_an_op_onnx_cannot_express_names_the_layer(tmp_path):
    class Eigen(torch.nn.Module):
        def forward(self, x):
            return torch.linalg.eigvals(x.reshape(-1, 2, 2)).real.reshape(len(x), -1)

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), Eigen(), torch.nn.Linear(2, 3))
    with pytest.raises(UserError, match=r"ONNX cannot express operation .*eig.* used by layer 1 \(Eigen\)"):
        export(
            source_from_model(model, [4]),
            ExportSettings(format="onnx", verify_samples=8),
            tmp_path / "e.onnx",
        )
    assert list(tmp_path.iterdir()) == []


EVERY_IMAGE_LAYER = {
    "input_shape": [1, 8, 8],
    "layers": [
        {"type": "Conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
        {"type": "BatchNorm2d"},
        {"type": "ReLU"},
        {
            "type": "Residual",
            "layers": [
                {"type": "Conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
                {"type": "GroupNorm", "num_groups": 2},
                {"type": "GELU"},
            ],
        },
        {"type": "Dropout2d", "p": 0.1},
        {"type": "ConvTranspose2d", "out_channels": 4, "kernel_size": 2, "stride": 2},
        {"type": "LeakyReLU"},
        {"type": "MaxPool2d", "kernel_size": 2},
        {"type": "AvgPool2d", "kernel_size": 2},
        {"type": "SiLU"},
        {"type": "AdaptiveAvgPool2d", "output_size": 2},
        {"type": "ELU"},
        {"type": "Flatten"},
        {"type": "LayerNorm"},
        {"type": "Linear", "out_features": 32},
        {"type": "BatchNorm1d"},
        {"type": "Tanh"},
        {"type": "Dropout", "p": 0.2},
        {"type": "Identity"},
        {"type": "Unflatten", "dim": 1, "unflattened_size": [4, 8]},
        {"type": "Conv1d", "out_channels": 6, "kernel_size": 3, "padding": 1},
        {"type": "MaxPool1d", "kernel_size": 2},
        {"type": "Sigmoid"},
        {"type": "Flatten"},
        {"type": "Linear", "out_features": 10},
        {"type": "Softmax", "dim": 1},
        {"type": "LogSoftmax", "dim": 1},
    ],
}
TOKEN_BAG = {
    "input_shape": [12],
    "layers": [
        {"type": "EmbeddingBag", "num_embeddings": 50, "embedding_dim": 16},
        {"type": "Linear", "out_features": 5},
    ],
}
EVERY_ATTENTION_LAYER = {  # rotary causal self-attention, both Transformer layers, fixed positions, the LM head
    "input_shape": [12],
    "layers": [
        {"type": "Embedding", "num_embeddings": 50, "embedding_dim": 16},
        {"type": "PositionalEmbedding", "kind": "sinusoidal"},
        {"type": "MultiheadAttention", "num_heads": 2, "causal": True, "rotary": True},
        {"type": "TransformerDecoderLayer", "nhead": 2, "dim_feedforward": 32},
        {"type": "TransformerEncoderLayer", "nhead": 2, "dim_feedforward": 32, "causal": True},
        {"type": "LMHead", "vocab_size": 50},
    ],
}
PATCHES = {
    "input_shape": [3, 8, 8],
    "layers": [
        {"type": "PatchEmbedding", "embed_dim": 8, "patch_size": [2, 4], "cls_token": True},
        {"type": "SequencePool", "mode": "max"},
        {"type": "Linear", "out_features": 3},
    ],
}
EVERY_SEQUENCE_LAYER = {
    "input_shape": [12],
    "layers": [
        {"type": "Embedding", "num_embeddings": 50, "embedding_dim": 16},
        {"type": "LSTM", "hidden_size": 16, "output": "all"},
        {"type": "GRU", "hidden_size": 8, "bidirectional": True},
        {"type": "Linear", "out_features": 5},
    ],
}


@pytest.mark.slow
def test_every_builder_layer_exports_with_parity(tmp_path):
    from workbench.core.export.onnx_formats import recommend_quantization
    from workbench.core.model.registry import layer_types

    covered = {
        layer["type"]
        for spec in (EVERY_IMAGE_LAYER, EVERY_SEQUENCE_LAYER, TOKEN_BAG, EVERY_ATTENTION_LAYER, PATCHES)
        for layer in spec["layers"]
    }
    covered |= {layer["type"] for layer in EVERY_IMAGE_LAYER["layers"][3]["layers"]} | {"TorchvisionModel"}
    covered |= {"Pretrained"}  # exported merged and verified in tests/core/pretrained/test_finetune.py
    assert set(layer_types()) <= covered, "a new builder layer needs a place in these export specs"
    image = ModelSpec.model_validate(EVERY_IMAGE_LAYER)
    report = export(
        source_from_spec(image), ExportSettings(format="onnx", verify_samples=32), tmp_path / "img.onnx"
    )
    assert report.checker_ok and report.dynamic_batch and report.max_abs_diff <= 1e-4
    assert recommend_quantization(image)[0] == "onnx-int8-static"
    sequence = ModelSpec.model_validate(EVERY_SEQUENCE_LAYER)
    assert recommend_quantization(sequence)[0] == "onnx-int8-dynamic"
    assert recommend_quantization(ModelSpec.model_validate(EVERY_ATTENTION_LAYER))[0] == "onnx-int8-dynamic"
    source = source_from_spec(sequence)
    source.meta["dataset"] = {"input_dtype": "int64"}  # token ids, as a text dataset's meta says
    for fmt in ("onnx", "onnx-int8-dynamic"):
        report = export(source, ExportSettings(format=fmt, verify_samples=32), tmp_path / f"seq-{fmt}.onnx")
        assert report.checker_ok and report.dynamic_batch, report.to_markdown()
        assert report.latency_ms["batch_32"] > 0 and report.top1_agreement >= (1.0 if fmt == "onnx" else 0.9)
    assert report.max_abs_diff < 0.1
    bag = source_from_spec(ModelSpec.model_validate(TOKEN_BAG))
    bag.meta["dataset"] = {"input_dtype": "int64"}
    report = export(bag, ExportSettings(format="onnx", verify_samples=32), tmp_path / "bag.onnx")
    assert report.checker_ok and report.dynamic_batch and report.max_abs_diff <= 1e-5, report.to_markdown()
    for i, doc in enumerate((EVERY_ATTENTION_LAYER, PATCHES)):  # the TorchScript-based exporter (opset 17)
        spec = ModelSpec.model_validate(doc)
        settings = ExportSettings(format="onnx", opset=17, verify_samples=32)
        report = export(source_from_spec(spec), settings, tmp_path / f"attention-{i}.onnx")
        assert report.checker_ok and report.dynamic_batch and report.max_abs_diff <= 1e-4, (
            report.to_markdown()
        )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_torchvision_backbones_export_with_parity(tmp_path, name):
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(num_classes=10)
    events = list(
        run_export(
            source_from_model(model, [3, 32, 32], name),
            ExportSettings(format="onnx", verify_samples=32),
            tmp_path / f"{name}.onnx",
        )
    )
    report = events[-1].report
    assert isinstance(events[-1], ExportFinished)
    assert report.checker_ok and report.dynamic_batch and report.samples_from == "random inputs"
    assert report.max_abs_diff <= 1e-4 and report.top1_agreement == 1.0, report.to_markdown()
    assert report.latency_ms["batch_1"] > 0 and report.latency_ms["batch_32"] > 0
