"""Verification, every time: parity against PyTorch, accuracy before and after, latency at batch 1 and 32."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

FP32_RTOL, FP32_ATOL = 1e-3, 1e-7      # PyTorch's own ONNX test tolerance
LOSSY_AGREEMENT = {"fp16": 0.99, "int8": 0.97}
LATENCY_BATCHES = (1, 32)


def run_batched(predict: Callable[[Any], Any], x, batch_size: int = 64, cancel=None):
    import numpy as np

    outputs = []
    for start in range(0, len(x), batch_size):
        if cancel is not None:
            cancel()
        outputs.append(np.asarray(predict(x[start:start + batch_size]), dtype=np.float32))
    return np.concatenate(outputs) if outputs else np.zeros((0,), dtype=np.float32)


def torch_predictor(model):
    import numpy as np
    import torch

    def predict(batch):
        with torch.no_grad():
            out = model(torch.from_numpy(np.ascontiguousarray(batch)))
        return (out[0] if isinstance(out, tuple | list) else out).float().numpy()

    return predict


def parity(reference, outputs, labels=None, classification: bool = True) -> dict[str, Any]:
    """Max / mean abs difference, fp32 tolerance, top-1 agreement and accuracy before / after."""
    import numpy as np

    ref = reference.reshape(len(reference), -1)
    out = outputs.reshape(len(outputs), -1)
    diff = np.abs(ref - out)
    result: dict[str, Any] = {
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        "within_fp32_tolerance": bool(np.allclose(out, ref, rtol=FP32_RTOL, atol=FP32_ATOL)),
        "outside_tolerance": int((diff > FP32_ATOL + FP32_RTOL * np.abs(ref)).sum()),
        "top1_agreement": None, "accuracy_before": None, "accuracy_after": None}
    if classification and ref.shape[1] > 1:
        top_ref, top_out = ref.argmax(1), out.argmax(1)
        result["top1_agreement"] = float((top_ref == top_out).mean())
        if labels is not None and len(labels) == len(ref):
            result["accuracy_before"] = float((top_ref == labels).mean())
            result["accuracy_after"] = float((top_out == labels).mean())
    return result


def latency_ms(predict: Callable[[Any], Any], x, batches=LATENCY_BATCHES, budget_s: float = 1.0,
               max_runs: int = 30, cancel=None) -> dict[str, float]:
    """Median wall time per call after warm-up, at each batch size; at least 5 runs, at most `budget_s` each."""
    import numpy as np

    result = {}
    for batch in batches:
        reps = -(-batch // max(len(x), 1))
        sample = np.ascontiguousarray(np.concatenate([x] * reps)[:batch]) if reps > 1 else x[:batch]
        for _ in range(3):
            predict(sample)
        times: list[float] = []
        start = time.perf_counter()
        while len(times) < max_runs and (len(times) < 5 or time.perf_counter() - start < budget_s):
            if cancel is not None:
                cancel()
            t0 = time.perf_counter()
            predict(sample)
            times.append((time.perf_counter() - t0) * 1000)
        result[f"batch_{batch}"] = round(statistics.median(times), 4)
    return result


def plain_notes(report, lossy_kind: str | None) -> list[str]:
    """Say plainly when the exported model is slower, bigger or less accurate than its baseline."""
    notes = []
    name = report.format
    for key, label in (("batch_1", "batch 1"), ("batch_32", "batch 32")):
        after, before = report.latency_ms.get(key), report.baseline_latency_ms.get(key)
        if after and before:
            ratio = after / before
            if ratio > 1.1:
                notes.append(f"{name} is SLOWER than {report.baseline} at {label} on this machine: {after:.3g} ms "
                             f"vs {before:.3g} ms ({ratio:.2f}x). "
                             + ("Small models and CPUs without int8 (VNNI) or fp16 units often see this."
                                if lossy_kind else ""))
            elif ratio < 0.9:
                notes.append(f"{name} is {1 / ratio:.2f}x faster than {report.baseline} at {label} "
                             f"({after:.3g} ms vs {before:.3g} ms).")
    if report.accuracy_before is not None and report.accuracy_after is not None:
        delta = 100 * (report.accuracy_after - report.accuracy_before)
        if delta < -0.05:
            notes.append(f"{name} is LESS ACCURATE than PyTorch fp32 on these samples: "
                         f"{100 * report.accuracy_after:.2f}% vs {100 * report.accuracy_before:.2f}% "
                         f"({delta:+.2f} points).")
        elif lossy_kind:
            notes.append(f"Accuracy is unchanged by {lossy_kind} ({100 * report.accuracy_after:.2f}%).")
    if report.baseline_size_bytes and report.size_bytes:
        ratio = report.size_bytes / report.baseline_size_bytes
        if lossy_kind and ratio < 0.95:
            notes.append(f"The file is {ratio:.2f}x the size of the fp32 model.")
        elif lossy_kind and ratio >= 0.95:
            notes.append(f"The file is NOT smaller than fp32 ({ratio:.2f}x): the graph's overhead dominates "
                         "in a model this small.")
    return notes


# -- the whole verification of one job ------------------------------------------------------------------------------
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
            labels = y if bundle.meta.task == "classification" and bundle.meta.num_classes > 0 else None
            x = x.astype(np.int64 if bundle.meta.input_dtype == "int64" else np.float32)
            return x, labels, f"{split.name} split", warnings
        if split is not None:
            warnings.append(f"The dataset's input shape {list(data_shape)} differs from the model's {list(shape)}; "
                            "parity was checked on random inputs and accuracy was not measured.")
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

    sizes = [m.num_embeddings for m in source.model.modules() if isinstance(m, torch.nn.Embedding)]
    return min(sizes) if sizes else 2


def verify(job, target) -> Any:
    """Check, load, compare with PyTorch, time; the report for `target` (the file's final name)."""
    import os

    from workbench.core.export.report import ExportReport

    exporter = job.exporter
    lossy_kind = ("int8" if "int8" in exporter.name else "fp16" if "fp16" in exporter.name else "lossy") \
        if exporter.lossy else None
    reference_predict = torch_predictor(job.model)
    reference = run_batched(reference_predict, job.inputs, cancel=job.check_cancel)
    # the baseline is timed first, before the exported model's runtime holds (and spins) threads
    if exporter.baseline == "onnx-fp32" and job.fp32_path is not None:
        from workbench.core.export.onnx_formats import load_onnx

        baseline = "fp32 ONNX in onnxruntime"
        baseline_latency = latency_ms(load_onnx(job.fp32_path), job.inputs, cancel=job.check_cancel)
        baseline_size = os.path.getsize(job.fp32_path)
    else:
        baseline = "PyTorch fp32 (eager)"
        baseline_latency = latency_ms(reference_predict, job.inputs, cancel=job.check_cancel)
        baseline_size = sum(t.numel() * t.element_size() for t in job.model.state_dict().values())
    problems = exporter.check(job.work_path) if exporter.check else []
    predict = exporter.load(job.work_path, job)
    outputs = run_batched(predict, job.inputs, cancel=job.check_cancel)
    classification = job.labels is not None or job.samples_from == "random inputs"
    result = parity(reference, outputs, job.labels, classification)
    after = latency_ms(predict, job.inputs, cancel=job.check_cancel)
    if lossy_kind:
        agreement = result["top1_agreement"]
        parity_ok = agreement is not None and agreement >= LOSSY_AGREEMENT.get(lossy_kind, 0.97)
        tolerance = {"top1_agreement": LOSSY_AGREEMENT.get(lossy_kind, 0.97)}
    else:
        parity_ok, tolerance = result["within_fp32_tolerance"], {"rtol": FP32_RTOL, "atol": FP32_ATOL}
    report = ExportReport(
        format=exporter.name, path=str(target), size_bytes=os.path.getsize(job.work_path), checker_ok=not problems,
        max_abs_diff=result["max_abs_diff"], mean_abs_diff=result["mean_abs_diff"],
        top1_agreement=result["top1_agreement"], accuracy_before=result["accuracy_before"],
        accuracy_after=result["accuracy_after"], latency_ms=after, parity_ok=parity_ok, tolerance=tolerance,
        baseline=baseline, baseline_latency_ms=baseline_latency, baseline_size_bytes=baseline_size,
        runtime=exporter.runtime, source=job.source.label, samples=len(job.inputs), samples_from=job.samples_from,
        input_shape=list(job.source.input_shape), opset=job.facts.get("opset"),
        opset_requested=job.settings.opset if exporter.suffix == ".onnx" else None,
        exporter=job.facts.get("exporter", ""), dynamic_batch=job.facts.get("dynamic_batch"), checks=problems,
        warnings=list(job.warnings), notes=list(job.notes),
        details={k: v for k, v in job.facts.items() if not k.startswith("_") and k not in ("opset", "exporter")},
        created=job.facts.get("created", ""))
    if not parity_ok and not lossy_kind:
        report.warnings.append(f"Outputs differ from PyTorch beyond rtol {FP32_RTOL} / atol {FP32_ATOL} in "
                               f"{result['outside_tolerance']} values (max abs diff {result['max_abs_diff']:.3g}).")
    elif not parity_ok and result["top1_agreement"] is not None:
        report.warnings.append(f"Top-1 agreement with PyTorch is only {100 * result['top1_agreement']:.1f}% "
                               f"(expected >= {100 * tolerance['top1_agreement']:.0f}%).")
    num_classes = reference.reshape(len(reference), -1).shape[1]
    if (job.source.trained and report.accuracy_before is not None and num_classes > 1
            and report.accuracy_before <= 1.5 / num_classes):
        report.warnings.append(f"Accuracy before export is {100 * report.accuracy_before:.1f}%, near chance "
                               f"({100 / num_classes:.0f}%): is this model trained?")
    report.notes.extend(plain_notes(report, lossy_kind))
    return report
