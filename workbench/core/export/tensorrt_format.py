"""TensorRT int8 engine, built from the int8 static QDQ ONNX (explicit quantization: TensorRT keeps the QDQ
scales and the nodes the accuracy budget kept in fp32). Offered where `tensorrt` is importable (a machine with an
NVIDIA GPU); elsewhere the wizard shows it disabled, saying what to install, and the CLI refuses it (exit 2).
The engine runs on the GPU through torch's CUDA tensors; it is verified like every other format."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.core.errors import UserError
from workbench.core.export.registry import Exporter, register_exporter
from workbench.core.io import atomic_write_bytes

MAX_BATCH = 64  # the optimization profile: batch 1 .. 64, tuned for 32 (verification runs <= 64)
OPT_BATCH = 32


def write_tensorrt(job) -> Iterator[Any]:
    from workbench.core.export.onnx_formats import write_int8_static

    engine_path, qdq = job.work_path, job.work_dir / "qdq.onnx"
    job.work_path = qdq  # the int8 static path (with its budget) writes the QDQ model here
    try:
        yield from write_int8_static(job)
    finally:
        job.work_path = engine_path
    yield job.progress("convert", 0.6, "Building the TensorRT engine from the QDQ model (int8)...")
    atomic_write_bytes(engine_path, build_engine(qdq, tuple(job.source.input_shape)))
    job.facts["tensorrt"] = {"from": "QDQ ONNX (explicit int8)", "profile_batches": [1, OPT_BATCH, MAX_BATCH]}


def build_engine(onnx_path: Path, input_shape: tuple[int, ...]) -> bytes:
    """Parse the QDQ ONNX, build a serialized engine with a dynamic-batch optimization profile."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch (the only mode in TensorRT 10)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise UserError(
            f"TensorRT cannot parse the quantized model: {errors[0] if errors else 'no reason given'}; "
            "export onnx-int8-static and run it with onnxruntime instead"
        )
    config = builder.create_builder_config()
    if hasattr(trt.BuilderFlag, "INT8"):  # explicit QDQ quantization; the flag is implied in newer releases
        config.set_flag(trt.BuilderFlag.INT8)
    profile = builder.create_optimization_profile()
    name = network.get_input(0).name
    profile.set_shape(name, (1, *input_shape), (OPT_BATCH, *input_shape), (MAX_BATCH, *input_shape))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise UserError(
            "TensorRT could not build an engine for this model (its log says why); export "
            "onnx-int8-static instead"
        )
    return bytes(serialized)


def _deserialize(path: Path):
    import tensorrt as trt

    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine(Path(path).read_bytes())
    if engine is None:
        raise UserError(
            f"TensorRT cannot load {Path(path).name} (built for another GPU or TensorRT version?)"
        )
    return engine


def cuda_runner(engine):
    """A numpy predictor running `engine` on the current CUDA device (torch tensors as its buffers)."""
    import numpy as np
    import torch

    context = engine.create_execution_context()
    input_name, output_name = engine.get_tensor_name(0), engine.get_tensor_name(1)

    def predict(batch):
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).cuda()
        context.set_input_shape(input_name, tuple(x.shape))
        out = torch.empty(tuple(context.get_tensor_shape(output_name)), dtype=torch.float32, device="cuda")
        context.set_tensor_address(input_name, x.data_ptr())
        context.set_tensor_address(output_name, out.data_ptr())
        stream = torch.cuda.current_stream()
        context.execute_async_v3(stream.cuda_stream)
        stream.synchronize()
        return out.cpu().numpy()

    return predict


RUNNER = cuda_runner  # replaced in tests (no GPU) by a CPU stand-in


def load_tensorrt(path: Path, job=None):
    return RUNNER(_deserialize(path))


def check_tensorrt(path: Path) -> list[str]:
    try:
        _deserialize(path)
    except Exception as exc:  # noqa: BLE001 - the report says why it does not load
        return [f"TensorRT: {exc}"]
    return []


register_exporter(
    Exporter(
        name="tensorrt-int8",
        label="TensorRT int8 engine",
        suffix=".engine",
        write=write_tensorrt,
        load=load_tensorrt,
        check=check_tensorrt,
        runtime="TensorRT (CUDA)",
        baseline="onnx-fp32",
        lossy=True,
        needs_calibration=True,
        requires="tensorrt",
        options=("opset", "calibration_samples", "calibration_method", "max_accuracy_drop"),
        description="An int8 TensorRT engine built from the QDQ model (same calibration and accuracy budget), for "
        "NVIDIA GPUs. Needs `pip install tensorrt` and a CUDA GPU; the engine runs only on the GPU "
        "model and TensorRT version it was built with.",
    )
)
