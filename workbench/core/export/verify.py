"""Verification, every time: parity against PyTorch, accuracy before and after, latency at batch 1 and 32."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

# Parity: |exported - PyTorch| <= atol * scale + rtol * |PyTorch| for every value, where `scale` is the
# largest
# |output| over the verification samples (an absolute tolerance fixed in logits near zero flags correct
# files).
TOLERANCES = {  # format -> (rtol, atol relative to the output's magnitude)
    "default": (1e-3, 1e-5),  # fp32 ONNX: another runtime, other kernels and summation orders
    "torchscript": (1e-4, 1e-6),  # the same kernels, but the frozen graph folds BatchNorm into convolutions
    "safetensors": (0.0, 0.0),  # the same weights in the same PyTorch model: bit-exact
}
LOSSY_AGREEMENT = {"fp16": 0.99, "int8": 0.97}
LATENCY_BATCHES = (1, 32)
LATENCY_BAND = 0.05  # "faster" / "slower" only when the ratio's whole IQR is beyond 1 -/+ 5%


def run_batched(predict: Callable[[Any], Any], x, batch_size: int = 64, cancel=None):
    import numpy as np

    outputs = []
    for start in range(0, len(x), batch_size):
        if cancel is not None:
            cancel()
        outputs.append(np.asarray(predict(x[start : start + batch_size]), dtype=np.float32))
    return np.concatenate(outputs) if outputs else np.zeros((0,), dtype=np.float32)


def torch_predictor(model):
    import numpy as np
    import torch

    def predict(batch):
        with torch.no_grad():
            out = model(torch.from_numpy(np.ascontiguousarray(batch)))
        return (out[0] if isinstance(out, tuple | list) else out).float().numpy()

    return predict


def tolerance_for(format_name: str) -> tuple[float, float]:
    return TOLERANCES.get(format_name, TOLERANCES["default"])


def parity(
    reference,
    outputs,
    labels=None,
    classification: bool = True,
    tolerance: tuple[float, float] = TOLERANCES["default"],
) -> dict[str, Any]:
    """Max / mean abs difference, the tolerance check (scaled to the output's magnitude), top-1 agreement and
    accuracy before / after."""
    import numpy as np

    ref = reference.reshape(len(reference), -1)
    out = outputs.reshape(len(outputs), -1)
    diff = np.abs(ref - out)
    rtol, atol = tolerance
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    bound = atol * scale + rtol * np.abs(ref)
    outside = int((diff > bound).sum()) if diff.size else 0
    result: dict[str, Any] = {
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        "within_tolerance": outside == 0 and bool(np.isfinite(out).all()),
        "outside_tolerance": outside,
        "output_scale": scale,
        "top1_agreement": None,
        "accuracy_before": None,
        "accuracy_after": None,
    }
    if classification and reference.ndim == 3 and reference.shape[-1] > 1:
        # a language model's (N, L, vocab): the predicted next token at every position (token accuracy)
        top_ref, top_out = reference.argmax(-1), outputs.argmax(-1)
        result["top1_agreement"] = float((top_ref == top_out).mean())
        if labels is not None and labels.shape == top_ref.shape:
            result["accuracy_before"] = float((top_ref == labels).mean())
            result["accuracy_after"] = float((top_out == labels).mean())
    elif classification and ref.shape[1] > 1:
        top_ref, top_out = ref.argmax(1), out.argmax(1)
        result["top1_agreement"] = float((top_ref == top_out).mean())
        if labels is not None and len(labels) == len(ref):
            result["accuracy_before"] = float((top_ref == labels).mean())
            result["accuracy_after"] = float((top_out == labels).mean())
    return result


def _sample(x, batch: int):
    import numpy as np

    reps = -(-batch // max(len(x), 1))
    return (
        np.ascontiguousarray(np.concatenate([x] * reps)[:batch])
        if reps > 1
        else np.ascontiguousarray(x[:batch])
    )


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    import numpy as np

    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return float(q1), float(median), float(q3)


def compare_latency(
    baseline: Callable[[Any], Any],
    exported: Callable[[Any], Any],
    x,
    batches=LATENCY_BATCHES,
    budget_s: float = 1.5,
    min_pairs: int = 9,
    max_pairs: int = 60,
    cancel=None,
) -> dict[str, Any]:
    """Interleaved repeats: baseline and export alternate (which goes first alternates too), so a machine that
    gets busier or quieter affects both alike. Per batch size: the median and IQR of each, and of the paired
    ratio export / baseline; the verdict says faster or slower only when the ratio's IQR lies wholly beyond
    1 -/+ LATENCY_BAND, else "no measurable difference". At most ~`budget_s` per batch size after warm-up."""
    result: dict[str, Any] = {}
    for batch in batches:
        sample = _sample(x, batch)
        for _ in range(2):
            baseline(sample)
            exported(sample)
        times: dict[str, list[float]] = {"baseline": [], "export": []}
        start = time.perf_counter()
        while len(times["export"]) < max_pairs and (
            len(times["export"]) < min_pairs or time.perf_counter() - start < budget_s
        ):
            if cancel is not None:
                cancel()
            order = (("baseline", baseline), ("export", exported))
            for name, predict in order if len(times["export"]) % 2 == 0 else order[::-1]:
                t0 = time.perf_counter()
                predict(sample)
                times[name].append((time.perf_counter() - t0) * 1000)
        ratios = [e / b for e, b in zip(times["export"], times["baseline"], strict=True) if b > 0]
        r_q1, r_median, r_q3 = _quartiles(ratios)
        if r_q3 < 1 - LATENCY_BAND:
            verdict = "faster"
        elif r_q1 > 1 + LATENCY_BAND:
            verdict = "slower"
        else:
            verdict = "no measurable difference"
        b_q1, b_median, b_q3 = _quartiles(times["baseline"])
        e_q1, e_median, e_q3 = _quartiles(times["export"])
        result[f"batch_{batch}"] = {
            "export_ms": round(e_median, 4),
            "export_iqr_ms": [round(e_q1, 4), round(e_q3, 4)],
            "baseline_ms": round(b_median, 4),
            "baseline_iqr_ms": [round(b_q1, 4), round(b_q3, 4)],
            "ratio": float(f"{r_median:.4g}"),  # significant digits: a 2000x speed-up is not a ratio of 0
            "ratio_iqr": [float(f"{r_q1:.4g}"), float(f"{r_q3:.4g}")],
            "pairs": len(ratios),
            "verdict": verdict,
        }
    return result


def plain_notes(report, lossy_kind: str | None) -> list[str]:
    """Say plainly when the exported model is slower, bigger or less accurate than its baseline."""
    notes = []
    name = report.format
    for key, label in (("batch_1", "batch 1"), ("batch_32", "batch 32")):
        c = (report.latency_comparison or {}).get(key)
        if not c:
            continue
        spread = (
            f"{c['export_ms']:.3g} ms vs {c['baseline_ms']:.3g} ms, median ratio {c['ratio']:.2f}x, "
            f"IQR {c['ratio_iqr'][0]:.2f}-{c['ratio_iqr'][1]:.2f}x over {c['pairs']} interleaved pairs"
        )
        if c["verdict"] == "slower":
            notes.append(
                f"{name} is SLOWER than {report.baseline} at {label} on this machine ({spread}). "
                + (
                    "Small models and CPUs without int8 (VNNI) or fp16 units often see this."
                    if lossy_kind
                    else ""
                )
            )
        elif c["verdict"] == "faster":
            notes.append(
                f"{name} is {1 / c['ratio']:.2f}x faster than {report.baseline} at {label} ({spread})."
            )
        else:
            notes.append(f"No measurable latency difference from {report.baseline} at {label} ({spread}).")
    if report.accuracy_before is not None and report.accuracy_after is not None:
        delta = 100 * (report.accuracy_after - report.accuracy_before)
        if delta < -0.05:
            notes.append(
                f"{name} is LESS ACCURATE than PyTorch fp32 on these samples: "
                f"{100 * report.accuracy_after:.2f}% vs {100 * report.accuracy_before:.2f}% "
                f"({delta:+.2f} points)."
            )
        elif lossy_kind:
            notes.append(f"Accuracy is unchanged by {lossy_kind} ({100 * report.accuracy_after:.2f}%).")
    if report.baseline_size_bytes and report.size_bytes:
        ratio = report.size_bytes / report.baseline_size_bytes
        if lossy_kind and ratio < 0.95:
            notes.append(f"The file is {ratio:.2f}x the size of the fp32 model.")
        elif lossy_kind and ratio >= 0.95:
            notes.append(
                f"The file is NOT smaller than fp32 ({ratio:.2f}x): the graph's overhead dominates "
                "in a model this small."
            )
    return notes


# -- the whole verification of one job
# ------------------------------------------------------------------------------
def verification_data(source, settings) -> tuple[Any, Any, str, list[str]]:
    """(inputs, labels, where from, warnings): K validation samples, or random inputs when there is no dataset."""
    import numpy as np

    from workbench.core.export.pipeline import split_arrays

    k = settings.verify_samples
    shape = tuple(source.input_shape)
    bundle = source.bundle()
    warnings: list[str] = []
    if bundle is not None:
        data_shape = tuple(bundle.meta.input_shape)
        split = next((s for s in (bundle.val, bundle.test, bundle.train) if len(s) > 0), None)
        if split is not None and data_shape == shape:
            x, y = split_arrays(split, list(range(min(k, len(split)))))
            labels = (
                y
                if bundle.meta.task in ("classification", "language_model") and bundle.meta.num_classes > 0
                else None
            )  # a language model's labels are its (N, L) next tokens: token accuracy
            x = x.astype(np.int64 if bundle.meta.input_dtype == "int64" else np.float32)
            return x, labels, f"{split.name} split", warnings
        if split is not None:
            warnings.append(
                f"The dataset's input shape {list(data_shape)} differs from the model's {list(shape)}; "
                "parity was checked on random inputs and accuracy was not measured."
            )
    else:
        warnings.append(f"Accuracy was not measured and parity used random inputs: {source.data_error}.")
    rng = np.random.default_rng(0)
    n = min(k, 64)
    if source.input_dtype == "int64":
        vocab = _vocabulary(source)
        return rng.integers(0, vocab, size=(n, *shape)).astype(np.int64), None, "random inputs", warnings
    return rng.standard_normal((n, *shape)).astype(np.float32), None, "random inputs", warnings


def _vocabulary(source) -> int:
    import torch

    embeddings = (torch.nn.Embedding, torch.nn.EmbeddingBag)
    sizes = [m.num_embeddings for m in source.model.modules() if isinstance(m, embeddings)]
    return min(sizes) if sizes else 2


def verify(job, target) -> Any:
    """Check, load, compare with PyTorch, time; the report for `target` (the file's final name)."""
    import os

    from workbench.core.export.report import ExportReport

    exporter = job.exporter
    lossy_kind = (
        ("int8" if "int8" in exporter.name else "fp16" if "fp16" in exporter.name else "lossy")
        if exporter.lossy
        else None
    )
    reference_predict = torch_predictor(job.model)
    reference = run_batched(reference_predict, job.inputs, cancel=job.check_cancel)
    if exporter.baseline == "onnx-fp32" and job.fp32_path is not None:
        from workbench.core.export.onnx_formats import load_onnx

        baseline = "fp32 ONNX in onnxruntime"
        baseline_predict = load_onnx(job.fp32_path)
        baseline_size = os.path.getsize(job.fp32_path)
    else:
        baseline = "PyTorch fp32 (eager)"
        baseline_predict = reference_predict
        baseline_size = sum(t.numel() * t.element_size() for t in job.model.state_dict().values())
    problems = exporter.check(job.work_path) if exporter.check else []
    predict = exporter.load(job.work_path, job)
    outputs = run_batched(predict, job.inputs, cancel=job.check_cancel)
    classification = job.labels is not None or job.samples_from == "random inputs"
    rtol, atol = tolerance_for(exporter.name)
    result = parity(reference, outputs, job.labels, classification, (rtol, atol))
    comparison = compare_latency(baseline_predict, predict, job.inputs, cancel=job.check_cancel)
    failed: list[str] = []
    if problems:
        failed.append(f"structural check: {problems[0]}")
    budget = job.facts.get("accuracy_budget")
    if lossy_kind:
        gate = LOSSY_AGREEMENT.get(lossy_kind, 0.97)
        agreement = result["top1_agreement"]
        tolerance: dict[str, Any] = {"top1_agreement": gate}
        if budget is not None:  # the user's accuracy budget replaces the agreement gate
            tolerance = {"max_accuracy_drop_points": budget["max_drop_points"]}
            parity_ok = bool(budget["met"])
            if not parity_ok:
                failed.append(f"accuracy budget: {budget['reason']}")
        else:
            parity_ok = agreement is not None and agreement >= gate
            if agreement is not None and not parity_ok:
                what = (  # a language model is compared at every position
                    f"{reference.shape[0] * reference.shape[1]:,} tokens"
                    if reference.ndim == 3
                    else f"{len(job.inputs)} samples"
                )
                failed.append(
                    f"top-1 agreement: {100 * agreement:.1f}% of the {what} agree "
                    f"with PyTorch, below the {100 * gate:.0f}% gate for {lossy_kind}"
                )
            elif agreement is None:
                failed.append(
                    "top-1 agreement: cannot be measured on this model's outputs (not class scores)"
                )
    else:
        parity_ok = result["within_tolerance"]
        tolerance = {"rtol": rtol, "atol": atol, "atol_scaled_to": round(result["output_scale"], 6)}
        if not parity_ok:
            failed.append(
                f"parity: {result['outside_tolerance']} output values differ from PyTorch beyond "
                f"rtol {rtol:g} + atol {atol:g} x {result['output_scale']:.3g} (max abs diff "
                f"{result['max_abs_diff']:.3g})"
            )
    report = ExportReport(
        format=exporter.name,
        path=str(target),
        size_bytes=os.path.getsize(job.work_path),
        checker_ok=not problems,
        max_abs_diff=result["max_abs_diff"],
        mean_abs_diff=result["mean_abs_diff"],
        top1_agreement=result["top1_agreement"],
        accuracy_before=result["accuracy_before"],
        accuracy_after=result["accuracy_after"],
        latency_ms={k: c["export_ms"] for k, c in comparison.items()},
        parity_ok=parity_ok,
        tolerance=tolerance,
        baseline=baseline,
        baseline_latency_ms={k: c["baseline_ms"] for k, c in comparison.items()},
        baseline_size_bytes=baseline_size,
        latency_comparison=comparison,
        runtime=exporter.runtime,
        source=job.source.label,
        samples=len(job.inputs),
        samples_from=job.samples_from,
        input_shape=list(job.source.input_shape),
        opset=job.facts.get("opset"),
        opset_requested=job.settings.opset if exporter.suffix == ".onnx" else None,
        exporter=job.facts.get("exporter", ""),
        dynamic_batch=job.facts.get("dynamic_batch"),
        checks=problems,
        warnings=list(job.warnings),
        notes=list(job.notes),
        verdict="failed" if failed else "passed",
        failed_checks=failed,
        accuracy_budget=budget or {},
        sensitivity=job.facts.get("sensitivity", []),
        details={
            k: v
            for k, v in job.facts.items()
            if not k.startswith("_") and k not in ("opset", "exporter", "accuracy_budget", "sensitivity")
        },
        created=job.facts.get("created", ""),
    )
    num_classes = (
        reference.shape[-1] if reference.ndim == 3 else reference.reshape(len(reference), -1).shape[1]
    )
    if reference.ndim == 3 and report.top1_agreement is not None:
        report.notes.append(
            "A language model: top-1 agreement and accuracy are per token (the predicted next token at every "
            f"position of the {len(reference)} samples)."
        )
    if (
        job.source.trained
        and report.accuracy_before is not None
        and num_classes > 1
        and report.accuracy_before <= 1.5 / num_classes
    ):
        report.warnings.append(
            f"Accuracy before export is {100 * report.accuracy_before:.1f}%, near chance "
            f"({100 / num_classes:.0f}%): is this model trained?"
        )
    report.notes.extend(plain_notes(report, lossy_kind))
    return report
