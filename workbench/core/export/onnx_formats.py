"""ONNX exports: fp32 (torch.onnx.export), fp16, int8 dynamic and int8 static QDQ (onnxruntime.quantization).

Every ONNX file is one self-contained file (no `.onnx.data` beside it) with named input/output and a
dynamic batch axis, checked in the graph, not assumed. torch / onnx / onnxruntime are imported in functions.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.core.errors import UserError
from workbench.core.export.registry import Exporter, register_exporter
from workbench.core.io import os_error_in

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
_NOISY_LOGGERS = ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript", "onnx_ir", "root")


@contextlib.contextmanager
def quiet():
    """The exporters narrate to the log and warn freely; the report says what matters instead."""
    saved = {}
    for name in _NOISY_LOGGERS:
        logger = logging.getLogger(None if name == "root" else name)
        saved[name] = logger.level
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(None if name == "root" else name).setLevel(level)


@contextlib.contextmanager
def unfused_attention():
    """Off torch's fused inference path for Transformer layers (`_transformer_encoder_layer_fwd`,
    `_native_multi_head_attention`, taken in eval mode under no_grad), whose ops ONNX cannot express: the
    layers then run as their plain matmuls, softmax and LayerNorms, which both exporters write."""
    import torch

    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)


# -- fp32
# -------------------------------------------------------------------------------------------------------
DYNAMO_MIN_OPSET = 18  # the dynamo exporter writes opset 18 and up (it converts down, or silently keeps 18)
TORCHSCRIPT_MAX_OPSET = 20  # the TorchScript-based exporter writes opsets 7 to 20
# onnxruntime's quantizer: dynamic int8 raises an older model to opset 11; per-channel QDQ needs opset 13
QUANTIZED_MIN_OPSET = {"onnx-int8-dynamic": 11, "onnx-int8-static": 13, "tensorrt-int8": 13}


def export_fp32(job, path: Path) -> None:
    """ONNX at the requested opset: the dynamo exporter from opset 18 (the TorchScript-based one below it), the
    other as the fallback; names the layer ONNX cannot express, and refuses a file of another opset."""
    import onnx
    import torch

    model, example = job.model, job.example
    opset = job.settings.opset
    newest, least = onnx.defs.onnx_opset_version(), QUANTIZED_MIN_OPSET.get(job.settings.format, 7)
    if opset > newest:
        raise UserError(
            f"ONNX opset {opset} is newer than onnx {onnx.__version__} knows (up to {newest}); choose an opset "
            f"from {least} to {newest}"
        )
    if opset < least:
        raise UserError(
            f"{job.exporter.label} needs ONNX opset {least} or newer (onnxruntime's quantizer); choose an opset "
            f"from {least} to {newest}"
        )
    exporters = [("dynamo exporter", True), ("TorchScript-based exporter", False)]
    if opset < DYNAMO_MIN_OPSET:
        exporters.reverse()
    errors: list[Exception] = []
    with quiet(), torch.no_grad(), unfused_attention():
        for _, dynamo in exporters:
            if errors:
                job.check_cancel()
            try:
                torch.onnx.export(
                    model,
                    (example,),
                    str(path),
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    **_exporter_options(dynamo, opset),
                )
                job.facts["exporter"] = f"torch.onnx ({'dynamo' if dynamo else 'TorchScript'})"
                break
            except Exception as exc:  # the other exporter may manage it
                if os_error_in(exc) is not None:
                    raise  # a full disk or a read-only folder, not the model: run_export says so
                errors.append(exc)
        else:
            raise UserError(describe_onnx_failure(model, example, errors)) from errors[-1]
    if errors:
        job.notes.append(
            f"The {exporters[0][0]} failed ({_first_line(errors[0])}); the {exporters[1][0]} was used instead."
        )
    finalize_onnx(job, path)


def _exporter_options(dynamo: bool, opset: int) -> dict[str, Any]:
    """torch.onnx.export's options for the dynamo exporter, or for the TorchScript-based one."""
    import torch

    if dynamo:
        return {
            "dynamo": True,
            "opset_version": opset,
            "dynamic_shapes": ({0: torch.export.Dim("batch", min=1)},),
            "external_data": False,
            "verbose": False,
            "optimize": True,
        }
    return {
        "dynamo": False,
        "opset_version": min(opset, TORCHSCRIPT_MAX_OPSET),
        "dynamic_axes": {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
    }


def finalize_onnx(job, path: Path) -> None:
    """Check the opset written is the one requested, record whether the batch axis really is dynamic, and fold
    any side file in."""
    import onnx

    proto = onnx.load(str(path), load_external_data=True)
    side_files = [p for p in path.parent.iterdir() if p.name.startswith(path.name) and p != path]
    if side_files:  # an exporter wrote external data anyway: make the file self-contained
        save_onnx(proto, path)
        for p in side_files:
            p.unlink()
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    job.facts["opset"] = opset
    if (
        opset is not None and opset != job.settings.opset
    ):  # (a runtime that needs the requested one cannot load it)
        raise UserError(
            f"this model cannot be written as ONNX opset {job.settings.opset}: the exporters could only write opset "
            f"{opset}; choose opset {opset}"
        )
    dynamic = all(_batch_is_dynamic(v) for v in [*proto.graph.input[:1], *proto.graph.output[:1]])
    job.facts["dynamic_batch"] = dynamic
    if not dynamic:
        job.warnings.append(
            "The exported graph has a fixed batch size; it runs only at the example batch size."
        )


def _batch_is_dynamic(value_info) -> bool:
    dims = value_info.type.tensor_type.shape.dim
    return bool(dims) and not dims[0].HasField("dim_value")


def save_onnx(proto, path: Path) -> None:
    import onnx

    if proto.ByteSize() > 2_000_000_000:
        raise UserError(
            "the model is larger than 2 GB, the limit of a single ONNX file; export the weights "
            "as safetensors instead"
        )
    onnx.save_model(proto, str(path), save_as_external_data=False)


def describe_onnx_failure(model, example, errors: list[Exception]) -> str:
    """Which layer uses which op ONNX cannot express (found by exporting the layers one at a time)."""
    text = "\n".join(str(e) for e in errors)
    op = None
    for pattern in (r"OpOverload\(op='([\w.:]+)'", r"operator '([\w:.]+)'", r"aten[:.]+(\w+)"):
        match = re.search(pattern, text)
        if match:
            op = match.group(1)
            break
    layer = locate_failing_layer(model, example)
    what = f"operation {op}" if op else "an operation"
    where = f"layer {layer}" if layer else "the model"
    return (
        f"ONNX cannot express {what} used by {where}; replace that layer with one ONNX supports, or export "
        f"as TorchScript or safetensors instead ({_first_line(errors[-1])})"
    )


def locate_failing_layer(model, example) -> str | None:
    """Export each leaf module alone (TorchScript exporter, fast) on the input it saw; name the first failure."""
    import io

    import torch

    seen: list[tuple[str, torch.nn.Module, tuple]] = []
    hooks = []
    for name, module in model.named_modules():
        if name and not any(True for _ in module.children()):
            hooks.append(
                module.register_forward_hook(lambda mod, args, out, name=name: seen.append((name, mod, args)))
            )
    try:
        with torch.no_grad():
            model(example)
    except Exception:  # noqa: BLE001 - the model itself fails: nothing more to locate
        return None
    finally:
        for hook in hooks:
            hook.remove()
    with quiet():
        for name, module, args in seen:
            try:
                torch.onnx.export(module, args, io.BytesIO(), dynamo=False)  # type: ignore[arg-type]  # (a file)
            except Exception:  # noqa: BLE001 - this is the failing layer
                top, kind = name.split(".")[0], type(module).__name__
                if top.isdigit():  # build_model's nn.Sequential: the top index is the spec's layer index
                    return f"{top} ({kind})" if top == name else f"{top} ({kind} at '{name}')"
                return f"'{name}' ({kind})"
    return None


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "No ONNX function" in line or "not supported" in line or "Unsupported" in line:
            return line[:300]
    return (lines[0] if lines else type(exc).__name__)[:300]


# -- derived formats
# ----------------------------------------------------------------------------------------------
def write_fp32(job) -> Iterator[Any]:
    yield job.progress("export", 0.05, "Exporting to ONNX (torch.onnx.export)...")
    export_fp32(job, job.work_path)
    job.fp32_path = job.work_path
    yield job.progress("export", 0.6, f"Exported ONNX opset {job.facts.get('opset')}")


def _fp32_first(job) -> Iterator[Any]:
    yield job.progress("export", 0.05, "Exporting the fp32 ONNX model first...")
    fp32 = job.work_dir / "fp32.onnx"
    export_fp32(job, fp32)
    job.fp32_path = fp32
    job.check_cancel()


def write_fp16(job) -> Iterator[Any]:
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    yield from _fp32_first(job)
    yield job.progress("convert", 0.4, "Converting weights and compute to float16...")
    keep_io = job.settings.keep_io_float32
    # LayerNormalization stays float32, as mixed precision keeps normalization (its statistics lose digits in
    # float16), and so does Transpose: onnxruntime 1.32's CPU layout optimizer (NchwcTransformer, level ALL)
    # crashes the process with a segmentation fault loading the float16 attention transposes of a Transformer layer
    # as the TorchScript-based exporter (opset 17 and below) writes them. Transposes carry no weights: same size.
    blocked = [*DEFAULT_OP_BLOCK_LIST, "LayerNormalization", "Transpose"]
    with quiet():
        proto = convert_float_to_float16(
            onnx.load(str(job.fp32_path)), keep_io_types=keep_io, op_block_list=blocked
        )
    sort_topologically(proto.graph)  # the converter appends its input casts after their consumers
    save_onnx(proto, job.work_path)
    if not keep_io:
        job.notes.append("Inputs and outputs are float16: feed the model half-precision arrays.")
    yield job.progress("convert", 0.6, "Converted to float16")


def sort_topologically(graph) -> None:
    """Reorder `graph.node` so every node comes after the nodes producing its inputs (stable otherwise)."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        progressed, remaining = False, []
        for node in pending:
            if all(name in available for name in node.input):
                ordered.append(node)
                available.update(node.output)
                progressed = True
            else:
                remaining.append(node)
        if not progressed:  # a cycle or an outer-scope input: keep the rest as it was
            ordered.extend(remaining)
            break
        pending = remaining
    copies = [type(n)() for n in ordered]
    for copy, node in zip(copies, ordered, strict=True):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


def _preprocess(job, source: Path) -> Path:
    """onnxruntime's quant_pre_process (optimization + shape inference); the fp32 model when it cannot run."""
    from onnxruntime.quantization import quant_pre_process

    target = job.work_dir / "preprocessed.onnx"
    for kwargs in ({}, {"skip_symbolic_shape": True}):
        try:
            with quiet():
                quant_pre_process(str(source), str(target), **kwargs)
            return target
        except Exception:  # noqa: BLE001 - try the lighter variant, then go on without
            continue
    job.notes.append("onnxruntime's quantization pre-processing failed on this model; quantized without it.")
    return source


def write_int8_dynamic(job) -> Iterator[Any]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    yield from _fp32_first(job)
    yield job.progress("quantize", 0.35, "Pre-processing for quantization...")
    pre = _preprocess(job, job.fp32_path)
    job.check_cancel()
    yield job.progress("quantize", 0.45, "Quantizing weights to int8 (dynamic)...")
    with quiet():
        quantize_dynamic(str(pre), str(job.work_path), weight_type=QuantType.QInt8)
    yield job.progress("quantize", 0.6, "Quantized (int8 dynamic)")


def quantize_qdq(pre: Path, out: Path, reader, method: str, cache: Path | None = None, exclude=()) -> None:
    """QDQ, per-channel, uint8 activations / int8 weights; `cache`: calibration ranges from / into that file
    (the accuracy budget quantizes several times on one calibration); `exclude`: nodes kept in fp32."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    calibrate = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[method]
    with quiet():
        quantize_static(
            str(pre),
            str(out),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=calibrate,
            nodes_to_exclude=list(exclude),
            calibration_cache_path=str(cache) if cache is not None else None,
        )


def write_int8_static(job) -> Iterator[Any]:
    samples = job.calibration_samples()  # validates the count before the slow export
    yield from _fp32_first(job)
    yield job.progress("quantize", 0.3, "Pre-processing for quantization...")
    pre = _preprocess(job, job.fp32_path)
    job.check_cancel()
    if job.settings.max_accuracy_drop is not None:
        from workbench.core.export.quant_budget import write_within_budget

        yield from write_within_budget(job, pre, samples)
    else:
        method = job.settings.calibration_method
        reader = job.calibration_reader(samples, INPUT_NAME)
        yield from job.blocking(
            lambda: quantize_qdq(pre, job.work_path, reader, method),
            "calibrate",
            0.35,
            0.6,
            f"Calibrating on {len(samples)} train samples ({method})...",
        )
    _record_calibration(job, samples)


def _record_calibration(job, samples) -> None:
    job.facts["calibration"] = {
        "samples": len(samples),
        "method": job.settings.calibration_method,
        "split": "train",
        "format": "QDQ",
        "per_channel": True,
        "activations": "uint8",
        "weights": "int8",
    }


# -- running and checking
# ----------------------------------------------------------------------------------------
def load_onnx(path: Path, job=None):
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # fair interleaved timing
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise UserError(f"onnxruntime cannot load the exported model: {_first_line(exc)}") from exc
    name = session.get_inputs()[0].name
    input_type = session.get_inputs()[0].type

    def predict(batch):
        if input_type == "tensor(float16)":
            batch = batch.astype(np.float16)
        return np.asarray(session.run(None, {name: batch})[0], dtype=np.float32)

    return predict


def check_onnx(path: Path) -> list[str]:
    """onnx.checker (full) and strict shape inference; the problems found, as sentences."""
    import onnx

    problems = []
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # noqa: BLE001
        problems.append(f"onnx.checker: {_first_line(exc)}")
    try:
        onnx.shape_inference.infer_shapes(onnx.load(str(path)), check_type=True, strict_mode=True)
    except Exception as exc:  # noqa: BLE001
        problems.append(f"shape inference: {_first_line(exc)}")
    return problems


def _onnx(name, label, write, description, **kw) -> Exporter:
    return register_exporter(
        Exporter(
            name=name,
            label=label,
            suffix=".onnx",
            write=write,
            load=load_onnx,
            check=check_onnx,
            description=description,
            runtime="onnxruntime",
            **kw,
        )
    )


_onnx(
    "onnx",
    "ONNX (fp32)",
    write_fp32,
    "Full precision; runs anywhere ONNX Runtime, TensorRT or OpenVINO do. Matches PyTorch to ~1e-6.",
    options=("opset",),
)
_onnx(
    "onnx-fp16",
    "ONNX fp16",
    write_fp16,
    "Half-precision weights and compute, float32 inputs and outputs: half the size; fast on GPUs, "
    "usually slower on CPUs.",
    baseline="onnx-fp32",
    lossy=True,
    options=("opset", "keep_io_float32"),
)
_onnx(
    "onnx-int8-dynamic",
    "ONNX int8 dynamic",
    write_int8_dynamic,
    "Weights in int8, activations quantized on the fly. Best for LSTM/GRU and dense models; no calibration.",
    baseline="onnx-fp32",
    lossy=True,
    options=("opset",),
)
_onnx(
    "onnx-int8-static",
    "ONNX int8 static (QDQ)",
    write_int8_static,
    "Weights and activations in int8 (QDQ, per-channel), calibrated on samples of the train split. "
    "Best for convolutional and dense models.",
    baseline="onnx-fp32",
    lossy=True,
    needs_calibration=True,
    options=("opset", "calibration_samples", "calibration_method", "max_accuracy_drop"),
)


RECURRENT = ("LSTM", "GRU", "RNN")


def recommend_quantization(model) -> tuple[str, str]:
    """(format, reason) as ONNX Runtime's documentation recommends: static QDQ for convolutional and dense
    models, dynamic for LSTM/GRU and Transformers (any attention layer, a Hugging Face model's included).
    `model` is a ModelSpec (no torch needed) or an nn.Module."""
    if hasattr(model, "modules"):
        types = [type(m).__name__ for m in model.modules()]
    else:
        types = list(_spec_types(getattr(model, "layers", [])))
    recurrent = [t for t in types if t in RECURRENT]
    if recurrent:
        return (
            "onnx-int8-dynamic",
            f"the model has {recurrent[0]} layers: dynamic quantization suits "
            "recurrent models (ONNX Runtime's recommendation)",
        )
    attention = [t for t in types if "Attention" in t or t.startswith("Transformer")]
    if attention:
        return (
            "onnx-int8-dynamic",
            f"the model has {attention[0]} layers: dynamic quantization suits "
            "Transformer models (ONNX Runtime's recommendation)",
        )
    return (
        "onnx-int8-static",
        "convolutional and dense models quantize best statically (QDQ, calibrated), "
        "as ONNX Runtime recommends",
    )


def _spec_types(layers) -> Iterator[str]:
    for layer in layers:
        yield layer.type
        yield from _spec_types(layer.layers or [])
