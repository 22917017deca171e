"""Export benchmark: int8 static within an accuracy budget, and verdicts that hold when rerun.

A small CNN trained briefly on the digits upscaled to 1x32x32, and torchvision resnet18 (architecture only) with
fixed random weights (seed 0) whose labels are its own fp32 predictions on the same images (so its accuracy is
agreement with fp32; random weights give flat logits, a hard case for int8), are exported as fp32 ONNX, fp16
and int8 static with accuracy budgets of 0.5 and 2 points. For each: the verification verdict, the accuracy
drop achieved (and whether the budget is met), the nodes kept in fp32, and the size and latency against the
baseline (fp32 ONNX for fp16/int8, PyTorch eager for fp32 ONNX) as a median ratio with its IQR over interleaved
repeats. The whole set runs twice; the script then checks that no verdict flips
(faster <-> slower, passed <-> failed, budget met <-> not met).

    .venv/bin/python bench/export.py            # ~3-5 minutes; writes bench/results/export.json
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "core" / "export"))

SIDE = 32
RUNS = 2
CASES = (("onnx", None), ("onnx-fp16", None), ("onnx-int8-static", 0.5), ("onnx-int8-static", 2.0))


def digits_32():
    """The digits (8x8, normalized) upscaled to 1x32x32, as an in-memory DataBundle."""
    import torch.nn.functional as F
    from export_helpers import digits_data

    from workbench.core.data.dataset import DataBundle, DatasetMeta, Split

    data = digits_data()
    splits = []
    for split in (data.train, data.val, data.test):
        x = F.interpolate(split.x, size=(SIDE, SIDE), mode="bilinear", align_corners=False).contiguous()
        splits.append(Split(split.name, None, x, split.y))
    meta = DatasetMeta("digits-32", (1, SIDE, SIDE), 10, list(data.meta.class_names))
    return DataBundle(meta, *splits)


def small_cnn():
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 8 * 8, 10),
    )


def resnet18():
    from workbench.core.model.modules import torchvision_model

    return torchvision_model("resnet18", 10, 1, False)  # the standard stem: 32x32 -> 8x8 after the stem


def relabel(model, data):
    """The same images labelled with the model's own fp32 predictions."""
    import torch

    from workbench.core.data.dataset import DataBundle, Split

    with torch.no_grad():
        splits = [
            Split(s.name, None, s.x, model(s.x).argmax(1) if len(s.x) else s.y)
            for s in (data.train, data.val, data.test)
        ]
    return DataBundle(data.meta, *splits)


def train(model, data, epochs: int, lr: float) -> float:
    """A brief training run (Adam, batch 32, fixed seed); the validation accuracy."""
    import torch

    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(data.train.x), generator=generator)
        for start in range(0, len(order), 32):
            index = order[start : start + 32]
            loss = torch.nn.functional.cross_entropy(model(data.train.x[index]), data.train.y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        return float((model(data.val.x).argmax(1) == data.val.y).float().mean())


def row_of(report, seconds: float) -> dict:
    budget = report.accuracy_budget or {}
    return {
        "verdict": report.verdict,
        "failed_checks": report.failed_checks,
        "accuracy_before": report.accuracy_before,
        "accuracy_after": report.accuracy_after,
        "accuracy_drop_points": round(100 * (report.accuracy_before - report.accuracy_after), 3),
        "budget_met": budget.get("met"),
        "fp32_nodes": budget.get("fp32_nodes"),
        "fp32_node_names": budget.get("fp32_node_names"),
        "quantizable_nodes": budget.get("quantizable_nodes"),
        "budget_tries": budget.get("tries"),
        "most_sensitive": [(r["node"], r["op"], r["sqnr_db"]) for r in report.sensitivity[:3]],
        "size_ratio": round(report.size_bytes / report.baseline_size_bytes, 3),
        "baseline": report.baseline,
        "latency": {
            k: {
                "ratio": c["ratio"],
                "ratio_iqr": c["ratio_iqr"],
                "export_ms": c["export_ms"],
                "baseline_ms": c["baseline_ms"],
                "pairs": c["pairs"],
                "verdict": c["verdict"],
            }
            for k, c in report.latency_comparison.items()
        },
        "max_abs_diff": report.max_abs_diff,
        "top1_agreement": report.top1_agreement,
        "export_seconds": round(seconds, 1),
    }


def bench_model(name, source, tmp: Path, run: int) -> dict:
    from workbench.core.export.pipeline import export
    from workbench.core.export.settings import ExportSettings

    rows = {}
    for fmt, budget in CASES:
        key = fmt if budget is None else f"{fmt} budget {budget:g}"
        settings = ExportSettings(format=fmt, calibration_samples=256, max_accuracy_drop=budget)
        started = time.perf_counter()
        report = export(
            source, settings, tmp / f"{name}-{run}-{key.replace(' ', '-')}.onnx", on_failure="keep"
        )
        rows[key] = row_of(report, time.perf_counter() - started)
        r = rows[key]
        print(
            f"  run {run} {name:9} {key:28} {r['verdict']:6} drop {r['accuracy_drop_points']:+6.2f} "
            f"fp32 nodes {r['fp32_nodes']!s:>4} size {r['size_ratio']:.2f} "
            + " ".join(
                f"{k} {c['ratio']:.2f}x [{c['ratio_iqr'][0]:.2f}-{c['ratio_iqr'][1]:.2f}] {c['verdict']}"
                for k, c in r["latency"].items()
            )
            + f"  ({r['export_seconds']} s)",
            flush=True,
        )
    return rows


def flips(runs: list[dict]) -> list[str]:
    """Verdicts that differ between runs: faster <-> slower, passed <-> failed, budget met <-> not met."""
    found = []
    first = runs[0]
    for other in runs[1:]:
        for model, rows in first.items():
            for key, row in rows.items():
                again = other[model][key]
                if row["verdict"] != again["verdict"]:
                    found.append(f"{model} {key}: verification {row['verdict']} -> {again['verdict']}")
                if row["budget_met"] != again["budget_met"]:
                    found.append(f"{model} {key}: budget met {row['budget_met']} -> {again['budget_met']}")
                for batch, c in row["latency"].items():
                    v1, v2 = c["verdict"], again["latency"][batch]["verdict"]
                    if {v1, v2} == {"faster", "slower"}:
                        found.append(f"{model} {key} {batch}: {v1} -> {v2}")
    return found


def changes(runs: list[dict]) -> list[str]:
    """Latency verdicts that moved between a direction and "no measurable difference" (not a flip)."""
    found = []
    for model, rows in runs[0].items():
        for key, row in rows.items():
            for batch, c in row["latency"].items():
                v2 = runs[1][model][key]["latency"][batch]["verdict"]
                if c["verdict"] != v2:
                    found.append(f"{model} {key} {batch}: {c['verdict']} -> {v2}")
    return found


def main() -> None:
    import onnxruntime
    import torch

    from workbench.core.export.source import source_from_model

    started = time.perf_counter()
    data = digits_32()
    t0 = time.perf_counter()
    cnn = small_cnn()
    accuracy = train(cnn, data, 2, 3e-3)
    models = {
        "small_cnn": {
            "model": cnn,
            "data": data,
            "weights": "trained 2 epochs (Adam 3e-3, batch 32)",
            "val_accuracy": accuracy,
            "train_seconds": round(time.perf_counter() - t0, 1),
        }
    }
    print(
        f"trained small_cnn: val accuracy {100 * accuracy:.1f}% in {models['small_cnn']['train_seconds']} s",
        flush=True,
    )
    torch.manual_seed(0)
    r18 = resnet18().eval()
    models["resnet18"] = {
        "model": r18,
        "data": relabel(r18, data),
        "val_accuracy": 1.0,
        "weights": "fixed random (seed 0); labels = its own fp32 predictions",
    }
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(1, RUNS + 1):
            results = {}
            for name, m in models.items():
                source = source_from_model(
                    m["model"], (1, SIDE, SIDE), f"{name} (digits 32x32)", data=m["data"]
                )
                results[name] = bench_model(name, source, Path(tmp), run)
            runs.append(results)
    flipped, moved = flips(runs), changes(runs)
    out = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "threads": torch.get_num_threads(),
        },
        "data": f"digits upscaled to 1x{SIDE}x{SIDE} (train {len(data.train.x)}, val {len(data.val.x)})",
        "models": {n: {k: v for k, v in m.items() if k not in ("model", "data")} for n, m in models.items()},
        "settings": {"calibration_samples": 256, "budgets_points": [0.5, 2.0], "runs": RUNS},
        "runs": runs,
        "verdict_flips": flipped,
        "latency_verdict_changes": moved,
        "seconds": round(time.perf_counter() - started, 1),
    }
    path = ROOT / "bench" / "results" / "export.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nverdict flips between runs: {flipped or 'none'}")
    print(f"latency verdicts that moved to/from 'no measurable difference': {moved or 'none'}")
    print(f"wrote {path} in {out['seconds']} s")


if __name__ == "__main__":
    main()
