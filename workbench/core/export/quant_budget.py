"""int8 static within the user's accuracy budget.

1. Calibrate once (the ranges are cached, so later quantizations reuse them) and quantize every node (QDQ).
2. Sensitivity, with onnxruntime's QDQ debugging (`onnxruntime.quantization.qdq_loss_debug`): both models save
   every intermediate activation on a few calibration samples; each quantized node's output is compared with
   the fp32 model's (SQNR, dB), and the node is charged with the noise it *adds*: the noise-to-signal power of
   its output minus that of its noisiest input. The nodes adding the most noise rank first.
3. While the accuracy drop on the validation split is over the budget, keep more of the top-ranked nodes in
   fp32 (`nodes_to_exclude`): 1, 2, 4, ... then a bisection down to the fewest that meet it, at most
   `max_fp32_nodes` weighted nodes (Conv, Gemm, MatMul...; default half of them, rounded up: beyond that the
   model is no longer int8; a Reshape or MaxPool kept beside them is not counted). A node kept
   in fp32 keeps the nodes that quantize its inputs in fp32 too: onnxruntime quantizes a tensor at its
   producer, so an fp32 consumer alone would still read int8-rounded values.
   A kept node that still reads an int8-rounded input (its input tensor is quantized for another consumer)
   is reported (`reads_int8_input`). If that cannot meet the budget the export says so (and fails
   verification).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.core.errors import UserError

SENSITIVITY_SAMPLES = 16  # calibration samples whose activations are compared (all kept in memory),
ACTIVATION_BUDGET = 256 << 20  # fewer for large inputs: every intermediate activation is held 3 times
ACTIVATIONS_PER_INPUT = 200  # a CNN's activations, all layers together, are ~50-100x its input (x2 for QDQ)


def sensitivity_samples(samples) -> int:
    per_sample = max(1, samples[:1].nbytes * ACTIVATIONS_PER_INPUT)
    return max(2, min(SENSITIVITY_SAMPLES, len(samples), ACTIVATION_BUDGET // per_sample))


QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


class _Samples:
    """A minimal CalibrationDataReader over a numpy array (for collect_activations, which iterates it)."""

    def __init__(self, samples, input_name: str, batch: int = 8):
        self.samples, self.input_name, self.batch, self.position = samples, input_name, batch, 0

    def get_next(self):
        if self.position >= len(self.samples):
            return None
        chunk = self.samples[self.position : self.position + self.batch]
        self.position += self.batch
        return {self.input_name: chunk}

    def rewind(self):
        self.position = 0

    def __iter__(self):
        return iter(self.get_next, None)


def node_sensitivity(fp32: Path, qdq: Path, samples, work_dir: Path, input_name: str) -> list[dict[str, Any]]:
    """One row per quantized node, most sensitive first: node, op, sqnr_db (its output, fp32 vs int8),
    input_sqnr_db (its noisiest input), noise_added (noise-to-signal power it adds), kept_fp32 (False)."""
    import onnx
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        compute_activation_error,
        compute_signal_to_quantization_noice_ratio,
        create_activation_matching,
        modify_model_output_intermediate_tensors,
    )

    from workbench.core.export.onnx_formats import quiet

    float_debug, qdq_debug = work_dir / "debug-fp32.onnx", work_dir / "debug-int8.onnx"
    with quiet():
        modify_model_output_intermediate_tensors(str(fp32), str(float_debug), save_as_external_data=False)
        modify_model_output_intermediate_tensors(str(qdq), str(qdq_debug), save_as_external_data=False)
        float_acts = collect_activations(str(float_debug), _Samples(samples, input_name))
        qdq_acts = collect_activations(str(qdq_debug), _Samples(samples, input_name))
    float_acts.setdefault(input_name, [samples])
    errors = compute_activation_error(create_activation_matching(qdq_acts, float_acts))
    for path in (float_debug, qdq_debug):
        path.unlink(missing_ok=True)

    graph = onnx.load(str(qdq)).graph
    float_nodes = {n.name for n in onnx.load(str(fp32)).graph.node}
    initializers = {i.name for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}

    def activation_sqnr(tensor: str) -> float | None:
        """SQNR of an activation as the node receives it; None for weights and constants."""
        node = producer.get(tensor)
        if node is not None and node.op_type == "DequantizeLinear":
            q = producer.get(node.input[0])
            source = q.input[0] if q is not None and q.op_type == "QuantizeLinear" else node.input[0]
            if source in initializers or (q is None and node.input[0] in initializers):
                return None  # a quantized weight or bias
            if source in errors and "xmodel_err" in errors[source]:
                return float(errors[source]["xmodel_err"])
            return None
        if tensor in initializers or tensor not in float_acts or tensor not in qdq_acts:
            return None
        return float(compute_signal_to_quantization_noice_ratio(float_acts[tensor], qdq_acts[tensor]))

    rows = []
    for node in graph.node:
        if node.op_type in QDQ_OPS or node.name not in float_nodes:
            continue
        quantized = any(
            producer.get(i) is not None and producer[i].op_type == "DequantizeLinear" for i in node.input
        )
        if not quantized or not node.output:
            continue
        out = node.output[0].removesuffix("_QuantizeLinear_Input")  # a graph output is renamed so
        out_sqnr = (
            float(errors[out]["xmodel_err"]) if "xmodel_err" in errors.get(out, {}) else activation_sqnr(out)
        )
        if out_sqnr is None:
            continue
        inputs = [v for v in (activation_sqnr(i) for i in node.input if i) if v is not None]
        in_sqnr = min(inputs) if inputs else math.inf
        added = max(0.0, _nsr(out_sqnr) - _nsr(in_sqnr))
        rows.append(
            {
                "node": node.name,
                "op": node.op_type,
                "sqnr_db": round(_finite(out_sqnr), 2),
                "input_sqnr_db": round(_finite(in_sqnr), 2),
                "noise_added": float(f"{added:.4g}"),
                "inputs_from": _quantizing_producers(node, producer, float_nodes),
                "kept_fp32": False,
            }
        )
    rows.sort(key=lambda r: (-r["noise_added"], r["sqnr_db"]))
    return rows


def _quantizing_producers(node, producer, float_nodes) -> list[str]:
    """The nodes whose quantized output this node reads: onnxruntime quantizes a tensor at its producer, so
    keeping only the consumer in fp32 still feeds it int8-rounded values; both must stay fp32."""
    found = []
    for tensor in node.input:
        dq = producer.get(tensor)
        q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
        source = producer.get(q.input[0]) if q is not None and q.op_type == "QuantizeLinear" else None
        if source is not None and source.op_type not in QDQ_OPS and source.name in float_nodes:
            found.append(source.name)
    return found


# nodes that multiply by weights: the ones int8 makes small and fast, and the ones the fp32 limit counts. A
# Reshape, MaxPool or Relu kept in fp32 beside them costs nothing and is not counted.
WEIGHTED_OPS = frozenset(
    {
        "Conv",
        "ConvTranspose",
        "Gemm",
        "MatMul",
        "Einsum",
        "Attention",
        "MultiHeadAttention",
        "LSTM",
        "GRU",
        "RNN",
    }
)


def counted_nodes(table: list[dict[str, Any]]) -> set[str]:
    """The nodes the fp32 limit counts: the weighted ones (all rows when a model has none, e.g. only pooling)."""
    weighted = {r["node"] for r in table if r["op"] in WEIGHTED_OPS}
    return weighted or {r["node"] for r in table}


def most_sensitive_within(table: list[dict[str, Any]], limit: int) -> int:
    """The largest k whose fp32 nodes (fp32_nodes_for) hold at most `limit` counted nodes."""
    counted = counted_nodes(table)
    fits = [k for k in range(len(table) + 1) if len(counted.intersection(fp32_nodes_for(table, k))) <= limit]
    return max(fits, default=0)


def int8_fed(path: Path, names: list[str]) -> list[str]:
    """Of the nodes `names` (kept in fp32), those that still read an int8-rounded activation in the model at
    `path`: an input that comes out of a QuantizeLinear -> DequantizeLinear pair on a computed tensor."""
    import onnx

    graph = onnx.load(str(path)).graph
    initializers = {i.name for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    found = []
    for node in graph.node:
        if node.name not in names:
            continue
        for tensor in node.input:
            dq = producer.get(tensor)
            q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
            if q is not None and q.op_type == "QuantizeLinear" and q.input[0] not in initializers:
                found.append(node.name)
                break
    return found


def fp32_nodes_for(table: list[dict[str, Any]], k: int) -> list[str]:
    """The nodes kept in fp32 for the k most sensitive rows: each node and the nodes quantizing its inputs."""
    kept: list[str] = []
    for row in table[:k]:
        for name in (row["node"], *row.get("inputs_from", ())):
            if name not in kept:
                kept.append(name)
    return kept


def _nsr(sqnr_db: float) -> float:
    return 0.0 if math.isinf(sqnr_db) and sqnr_db > 0 else 10 ** (-sqnr_db / 10)


def _finite(v: float) -> float:
    return 999.0 if math.isinf(v) or math.isnan(v) else v


def accuracy(predict, x, labels) -> float:
    from workbench.core.export.verify import run_batched

    out = run_batched(predict, x)
    if out.ndim == 3 and labels.ndim == 2:  # a language model: token accuracy over every position
        return float((out.argmax(-1) == labels).mean())
    return float((out.reshape(len(x), -1).argmax(1) == labels).mean())


def write_within_budget(job, pre: Path, samples) -> Iterator[Any]:
    """Quantize `pre` into `job.work_path`, keeping the most sensitive nodes in fp32 until the accuracy drop on
    the validation split is within `job.settings.max_accuracy_drop`; records `sensitivity` and
    `accuracy_budget` in job.facts."""
    from workbench.core.export.onnx_formats import INPUT_NAME, load_onnx, quantize_qdq
    from workbench.core.export.verify import torch_predictor

    budget = float(job.settings.max_accuracy_drop)
    if job.labels is None:
        raise UserError(
            "an accuracy budget is measured on the labelled validation split, but "
            f"{'the dataset has no class labels' if job.source.bundle() else job.source.data_error}; "
            "load the dataset, or export without --max-accuracy-drop"
        )
    if job.samples_from != "val split":  # never the test split: a budget tuned on it would flatter the model
        raise UserError(
            "an accuracy budget is measured on the validation split, but this dataset has no validation "
            f"samples (the {job.samples_from} would be used); train with a validation split (e.g. val 15%), "
            "or export without --max-accuracy-drop"
        )
    method = job.settings.calibration_method
    cache = job.work_dir / "calibration.json"
    reader = job.calibration_reader(samples, INPUT_NAME)
    tries: list[dict[str, Any]] = []

    def attempt(k: int) -> float:
        path = job.work_dir / f"int8-top-{k}.onnx"
        if not path.exists():
            quantize_qdq(pre, path, reader, method, cache, fp32_nodes_for(table, k))
        drop = 100 * (reference - accuracy(load_onnx(path), job.inputs, job.labels))
        tries.append(
            {
                "most_sensitive": k,
                "fp32_nodes": len(counted.intersection(fp32_nodes_for(table, k))),
                "accuracy_drop_points": round(drop, 3),
            }
        )
        job.check_cancel()
        return drop

    reference = accuracy(torch_predictor(job.model), job.inputs, job.labels)
    first = job.work_dir / "int8-top-0.onnx"
    yield from job.blocking(
        lambda: quantize_qdq(pre, first, reader, method, cache),
        "calibrate",
        0.35,
        0.45,
        f"Calibrating on {len(samples)} train samples ({method})...",
    )
    yield job.progress("quantize", 0.46, "Measuring each node's sensitivity (QDQ debugging, SQNR)...")
    table = node_sensitivity(pre, first, samples[: sensitivity_samples(samples)], job.work_dir, INPUT_NAME)
    counted = counted_nodes(table)
    quantizable = len(counted)
    limit = (
        (quantizable + 1) // 2
        if job.settings.max_fp32_nodes is None
        else min(job.settings.max_fp32_nodes, quantizable)
    )
    k_max = most_sensitive_within(table, limit)
    yield job.progress("quantize", 0.5, f"Accuracy with every node in int8 (budget {budget:g} points)...")
    drops = {0: attempt(0)}
    chosen = 0
    if drops[0] > budget:
        low, high, k = 0, None, 1
        while k <= k_max:
            yield job.progress(
                "quantize",
                0.5 + 0.08 * min(k / max(k_max, 1), 1),
                f"Keeping the {k} most sensitive node(s) in fp32...",
            )
            drops[k] = attempt(k)
            if drops[k] <= budget:
                high = k
                break
            low = k
            k = k_max if k < k_max < 2 * k else 2 * k
        while high is not None and high - low > 1:  # the fewest fp32 nodes that meet the budget
            mid = (low + high) // 2
            yield job.progress("quantize", 0.59, f"Keeping the {mid} most sensitive node(s) in fp32...")
            drops[mid] = attempt(mid)
            low, high = (low, mid) if drops[mid] <= budget else (mid, high)
        chosen = high if high is not None else min(drops, key=lambda n: (drops[n], n))
    met = drops[chosen] <= budget
    kept = fp32_nodes_for(table, chosen)
    os.replace(job.work_dir / f"int8-top-{chosen}.onnx", job.work_path)
    fed = int8_fed(job.work_path, kept)
    for row in table:
        row["kept_fp32"] = row["node"] in kept
        row["reads_int8_input"] = row["node"] in fed
    n_kept = len(counted.intersection(kept))
    beside = f" (and {len(kept) - n_kept} other node(s) beside them)" if len(kept) > n_kept else ""
    if met:
        reason = f"{drops[chosen]:.2f} points lost with {n_kept} weighted node(s) in fp32{beside}"
    else:
        reason = (
            f"the accuracy drop is {drops[chosen]:.2f} points with {n_kept} of {quantizable} weighted nodes in "
            f"fp32{beside} (the limit is {limit}), over the {budget:g}-point budget; allow a larger drop, more "
            "fp32 nodes (--max-fp32-nodes), or export fp32"
        )
    if fed:
        reason += (
            f"; {len(fed)} node(s) kept in fp32 still read int8-rounded input ({', '.join(fed)}): "
            "their input is quantized for another consumer"
        )
    job.facts["sensitivity"] = table
    job.facts["accuracy_budget"] = {
        "max_drop_points": budget,
        "achieved_drop_points": round(drops[chosen], 3),
        "met": met,
        "fp32_nodes": n_kept,
        "fp32_node_names": kept,
        "fp32_nodes_reading_int8": fed,
        "quantizable_nodes": quantizable,
        "max_fp32_nodes": limit,
        "reference_accuracy": round(reference, 5),
        "tries": tries,
        "reason": reason,
        "sensitivity_samples": sensitivity_samples(samples),
    }
    yield job.progress("quantize", 0.6, f"Accuracy budget {'met' if met else 'NOT met'}: {reason}")
