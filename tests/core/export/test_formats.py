"""Each format on a briefly trained digits CNN: checker, onnxruntime at batch 1 and 32, parity, report files."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from export_helpers import REPORT_KEYS

from workbench.core.export.pipeline import export
from workbench.core.export.report import report_paths
from workbench.core.export.settings import ExportSettings


def _run_ort(path, digits, batch):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = digits.val.x[:batch].numpy()
    (out,) = session.run(None, {"input": x})
    return out


def _assert_report_files(report, path):
    json_path, md_path = report_paths(path)
    doc = json.loads(json_path.read_text())
    assert doc.keys() >= REPORT_KEYS
    assert doc["size_bytes"] == path.stat().st_size > 0
    assert set(doc["latency_ms"]) == {"batch_1", "batch_32"} and all(
        v > 0 for v in doc["latency_ms"].values()
    )
    assert "| accuracy |" in md_path.read_text()
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, json_path.name, md_path.name])


def test_onnx_fp32_is_one_file_with_a_dynamic_batch_and_matches_pytorch(source, digits, tmp_path):
    report = export(source, ExportSettings(format="onnx", opset=18), tmp_path / "digits.onnx")
    path = tmp_path / "digits.onnx"
    _assert_report_files(report, path)
    assert report.checker_ok and report.parity_ok and report.dynamic_batch
    assert report.max_abs_diff <= 1e-4 and report.top1_agreement == 1.0
    assert report.accuracy_before == report.accuracy_after > 0.85
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == ["input"] and [o.name for o in proto.graph.output] == [
        "logits"
    ]
    assert report.opset == next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    for batch in (1, 32):
        out = _run_ort(path, digits, batch)
        assert out.shape == (batch, 10)
        with __import__("torch").no_grad():
            expected = source.model(digits.val.x[:batch]).numpy()
        np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-5)


def _opset_of(path) -> int:
    return next(o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx"))


@pytest.mark.parametrize(
    ("fmt", "opset"), [("onnx", 9), ("onnx", 17), ("onnx", 21), ("onnx-int8-dynamic", 11)]
)
def test_the_requested_opset_is_the_one_written(source, digits, tmp_path, fmt, opset):
    """Below 18 the TorchScript-based exporter writes it (the dynamo exporter kept opset 18, with a note); a
    runtime that needs an older opset can load the file."""
    path = tmp_path / f"m{opset}.onnx"
    report = export(source, ExportSettings(format=fmt, opset=opset, verify_samples=64), path)
    assert _opset_of(path) == report.opset == report.opset_requested == opset
    assert report.verdict == "passed"
    assert _run_ort(path, digits, 4).shape == (4, 10)


@pytest.mark.parametrize(
    ("fmt", "opset", "says"),
    [
        ("onnx", 29, "newer than onnx"),  # the installed onnx knows up to 28 (the settings allow 7-30)
        ("onnx-int8-static", 12, "needs ONNX opset 13 or newer"),  # per-channel QDQ: an invalid model before
        ("onnx-int8-dynamic", 9, "needs ONNX opset 11 or newer"),  # onnxruntime raised it to 11 unasked
    ],
)
def test_an_opset_that_cannot_be_written_is_refused_up_front(source, tmp_path, fmt, opset, says):
    from workbench.core.errors import UserError

    if says == "newer than onnx" and onnx.defs.onnx_opset_version() >= opset:
        pytest.skip(f"this onnx writes opset {opset}")
    with pytest.raises(UserError, match=says):
        export(source, ExportSettings(format=fmt, opset=opset), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_a_model_only_one_exporter_handles_at_another_opset_is_refused(source, tmp_path, monkeypatch):
    """When only the dynamo exporter manages the model, opset 11 comes out as opset 18: an error that says which
    opset to choose, not a file a runtime that needs opset 11 cannot load."""
    import workbench.core.export.onnx_formats as formats
    from workbench.core.errors import UserError

    real_options = formats._exporter_options

    def torchscript_fails(dynamo, opset):
        if not dynamo:
            raise RuntimeError(
                "Exporting the operator 'aten::made_up' to ONNX opset version 11 is not supported"
            )
        return real_options(dynamo, opset)

    monkeypatch.setattr(formats, "_exporter_options", torchscript_fails)
    with pytest.raises(UserError, match="cannot be written as ONNX opset 11.*choose opset 18"):
        export(source, ExportSettings(format="onnx", opset=11), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_onnx_fp16_keeps_float32_io_and_stays_close(source, digits, tmp_path):
    path = tmp_path / "fp16.onnx"
    report = export(source, ExportSettings(format="onnx-fp16"), path)
    _assert_report_files(report, path)
    assert report.checker_ok and report.max_abs_diff <= 1e-2 and report.top1_agreement >= 0.99
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float)"
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in onnx.load(str(path)).graph.initializer)
    assert _run_ort(path, digits, 32).shape == (32, 10) and _run_ort(path, digits, 1).shape == (1, 10)
    assert report.size_bytes < report.baseline_size_bytes


def test_int8_dynamic_agrees_with_pytorch(source, digits, tmp_path):
    path = tmp_path / "dyn.onnx"
    report = export(source, ExportSettings(format="onnx-int8-dynamic"), path)
    _assert_report_files(report, path)
    assert report.checker_ok and report.top1_agreement >= 0.97
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert ops & {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul"}
    assert _run_ort(path, digits, 32).shape == (32, 10) and _run_ort(path, digits, 1).shape == (1, 10)


@pytest.mark.parametrize("method", ["minmax", "percentile"])
def test_int8_static_qdq_per_channel_calibrated_on_train(source, digits, tmp_path, method):
    path = tmp_path / f"static-{method}.onnx"
    report = export(
        source,
        ExportSettings(format="onnx-int8-static", calibration_samples=128, calibration_method=method),
        path,
    )
    _assert_report_files(report, path)
    assert report.checker_ok and report.top1_agreement >= 0.97, report.to_markdown()
    assert report.details["calibration"] == {
        "samples": 128,
        "method": method,
        "split": "train",
        "format": "QDQ",
        "per_channel": True,
        "activations": "uint8",
        "weights": "int8",
    }
    graph = onnx.load(str(path)).graph
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in graph.node}
    conv_scale = [i for i in graph.initializer if "scale" in i.name and len(i.dims) == 1 and i.dims[0] == 16]
    assert conv_scale, "the conv weights should have one scale per output channel"
    assert report.size_bytes < report.baseline_size_bytes
    assert _run_ort(path, digits, 32).shape == (32, 10)
    if report.latency_ms["batch_1"] > 1.1 * report.baseline_latency_ms["batch_1"]:
        assert any("SLOWER" in note for note in report.notes)


def test_torchscript_and_safetensors_reload_exactly(source, digits, tmp_path):
    import torch
    from safetensors.torch import load_file

    ts = export(source, ExportSettings(format="torchscript", verify_samples=64), tmp_path / "model.pt")
    _assert_report_files(ts, tmp_path / "model.pt")
    module = torch.jit.load(str(tmp_path / "model.pt"))
    for batch in (1, 32):
        assert module(digits.val.x[:batch]).shape == (batch, 10)
    assert ts.checker_ok and ts.max_abs_diff <= 1e-5 and ts.top1_agreement == 1.0
    weights = export(source, ExportSettings(format="safetensors", verify_samples=64), tmp_path / "w")
    assert weights.path.endswith("w.safetensors") and weights.max_abs_diff == 0.0
    assert set(load_file(weights.path)) == set(source.model.state_dict())


def test_report_says_plainly_when_int8_is_slower_or_less_accurate():
    from workbench.core.export.report import ExportReport
    from workbench.core.export.verify import plain_notes

    def timing(export_ms, baseline_ms, ratio, iqr, verdict):
        return {
            "export_ms": export_ms,
            "export_iqr_ms": [export_ms, export_ms],
            "baseline_ms": baseline_ms,
            "baseline_iqr_ms": [baseline_ms, baseline_ms],
            "ratio": ratio,
            "ratio_iqr": iqr,
            "pairs": 20,
            "verdict": verdict,
        }

    report = ExportReport(
        format="onnx-int8-static",
        path="m.onnx",
        size_bytes=10,
        checker_ok=True,
        max_abs_diff=1.0,
        top1_agreement=0.97,
        accuracy_before=0.98,
        accuracy_after=0.95,
        latency_ms={"batch_1": 0.2, "batch_32": 1.0},
        baseline="fp32 ONNX",
        baseline_latency_ms={"batch_1": 0.1, "batch_32": 2.0},
        baseline_size_bytes=40,
        latency_comparison={
            "batch_1": timing(0.2, 0.1, 2.0, [1.8, 2.2], "slower"),
            "batch_32": timing(1.0, 2.0, 0.5, [0.45, 0.55], "faster"),
        },
    )
    notes = " ".join(plain_notes(report, "int8"))
    assert "SLOWER than fp32 ONNX at batch 1" in notes and "2.00x" in notes and "IQR 1.80-2.20x" in notes
    assert "2.00x faster than fp32 ONNX at batch 32" in notes
    assert "LESS ACCURATE" in notes and "-3.00 points" in notes
    report.latency_comparison["batch_1"] = timing(0.2, 0.1, 1.02, [0.9, 1.1], "no measurable difference")
    assert "No measurable latency difference from fp32 ONNX at batch 1" in " ".join(
        plain_notes(report, "int8")
    )
