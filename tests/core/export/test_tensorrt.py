"""TensorRT: refused with what to install when `tensorrt` is missing; with it (here a fake module standing in for
TensorRT, and onnxruntime for the GPU), the engine is built from the QDQ model and verified like any format."""

from __future__ import annotations

import importlib.machinery
import sys
import types

import pytest

from workbench.core.errors import UserError
from workbench.core.export.pipeline import export, unavailable
from workbench.core.export.registry import get_exporter
from workbench.core.export.settings import ExportSettings


def test_without_tensorrt_the_format_says_what_to_install(source, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import fails, find_spec raises: not installed
    monkeypatch.setattr(
        "importlib.util.find_spec",
        lambda name, *a: None if name == "tensorrt" else importlib.machinery.PathFinder.find_spec(name),
    )
    message = unavailable(get_exporter("tensorrt-int8"))
    assert message and "pip install tensorrt" in message and "NVIDIA GPU" in message
    with pytest.raises(UserError, match="pip install tensorrt"):
        export(source, ExportSettings(format="tensorrt-int8"), tmp_path / "m.engine")
    assert list(tmp_path.iterdir()) == []


class _Fake:
    """Just enough of the TensorRT 10 Python API; the 'engine' is the QDQ ONNX itself."""

    def __init__(self):
        self.calls: list = []
        fake = self

        class BuilderFlag:
            INT8 = "INT8"

        class Logger:
            WARNING = 2

            def __init__(self, level):
                pass

        class Network:
            def __init__(self):
                self.model = None

            def get_input(self, i):
                return types.SimpleNamespace(name="input")

        class Parser:
            def __init__(self, network, logger):
                self.network, self.num_errors = network, 0

            def parse(self, data):
                self.network.model = data
                fake.calls.append(("parse", b"QuantizeLinear" in data))
                return True

        class Profile:
            def set_shape(self, name, low, opt, high):
                fake.calls.append(("profile", name, low, opt, high))

        class Config:
            def set_flag(self, flag):
                fake.calls.append(("flag", flag))

            def add_optimization_profile(self, profile):
                fake.calls.append(("profile added",))

        class Builder:
            def __init__(self, logger):
                pass

            def create_network(self, flags):
                self.network = Network()
                return self.network

            def create_builder_config(self):
                return Config()

            def create_optimization_profile(self):
                return Profile()

            def build_serialized_network(self, network, config):
                return network.model

        class Runtime:
            def __init__(self, logger):
                pass

            def deserialize_cuda_engine(self, data):
                return types.SimpleNamespace(onnx=data)

        self.module = types.ModuleType("tensorrt")
        self.module.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)
        self.module.BuilderFlag, self.module.Logger, self.module.Builder = BuilderFlag, Logger, Builder
        self.module.OnnxParser, self.module.Runtime = Parser, Runtime


def _cpu_runner(engine):
    """Stands in for the CUDA runner: runs the 'engine' (the QDQ ONNX bytes) in onnxruntime."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(engine.onnx, providers=["CPUExecutionProvider"])
    return lambda batch: np.asarray(session.run(None, {"input": batch})[0])


def test_with_tensorrt_the_engine_is_built_from_the_qdq_model_and_verified(source, tmp_path, monkeypatch):
    from workbench.core.export import tensorrt_format

    fake = _Fake()
    monkeypatch.setitem(sys.modules, "tensorrt", fake.module)
    monkeypatch.setattr(tensorrt_format, "RUNNER", _cpu_runner)
    assert unavailable(get_exporter("tensorrt-int8")) is None
    report = export(
        source,
        ExportSettings(
            format="tensorrt-int8", calibration_samples=64, verify_samples=200, max_accuracy_drop=1.0
        ),
        tmp_path / "digits",
    )
    assert (tmp_path / "digits.engine").is_file() and report.path == str(tmp_path / "digits.engine")
    assert ("parse", True) in fake.calls and ("flag", "INT8") in fake.calls  # explicit int8 from QDQ
    assert ("profile", "input", (1, 1, 8, 8), (32, 1, 8, 8), (64, 1, 8, 8)) in fake.calls
    assert report.format == "tensorrt-int8" and report.runtime == "TensorRT (CUDA)"
    assert report.verdict == "passed" and report.accuracy_budget["met"] and report.sensitivity
    assert report.baseline == "fp32 ONNX in onnxruntime" and report.checker_ok
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "digits.engine",
        "digits.engine.report.json",
        "digits.engine.report.md",
    ]
