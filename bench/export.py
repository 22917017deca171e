"""Export benchmark: for a small CNN trained on digits and for torchvision resnet18, each format's size and
latency (onnxruntime, batch 1 and 32) relative to fp32 ONNX, and its accuracy delta. One run, side by side.

    .venv/bin/python bench/export.py            # writes bench/results/export.json

resnet18 has random weights (no download); its "labels" are the fp32 model's own predictions on random
inputs, so its accuracy is the top-1 agreement with fp32 and the delta shows what a format loses.
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

FORMATS = ("onnx", "onnx-fp16", "onnx-int8-dynamic", "onnx-int8-static", "torchscript")


def small_cnn_source(tmp: Path):
    from export_helpers import digits_data, trained_digits_run

    from workbench.core.export.source import source_from_checkpoint

    return source_from_checkpoint(trained_digits_run(tmp, epochs=10), data=digits_data())


def resnet18_source():
    import torch
    import torchvision

    from workbench.core.data.dataset import DataBundle, DatasetMeta, Split
    from workbench.core.export.source import source_from_model

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10).eval()
    x = torch.randn(384, 3, 32, 32)
    with torch.no_grad():
        y = model(x).argmax(1)
    splits = [Split(name, None, x[s], y[s]) for name, s in (("train", slice(0, 256)), ("val", slice(256, 384)),
                                                           ("test", slice(0, 0)))]
    meta = DatasetMeta("random", (3, 32, 32), 10, [str(i) for i in range(10)])
    return source_from_model(model, [3, 32, 32], "resnet18 (random weights)", data=DataBundle(meta, *splits))


def bench(name, source, tmp: Path) -> dict:
    from workbench.core.export.pipeline import export
    from workbench.core.export.settings import ExportSettings

    rows = {}
    for fmt in FORMATS:
        started = time.perf_counter()
        r = export(source, ExportSettings(format=fmt, calibration_samples=256), tmp / f"{name}-{fmt}")
        rows[fmt] = {"size_bytes": r.size_bytes, "latency_ms": r.latency_ms, "accuracy": r.accuracy_after,
                     "accuracy_fp32": r.accuracy_before, "top1_agreement": r.top1_agreement,
                     "max_abs_diff": r.max_abs_diff, "export_seconds": round(time.perf_counter() - started, 1)}
        print(f"  {name} {fmt}: {r.size_bytes} B, {r.latency_ms}, acc {r.accuracy_after}", flush=True)
    base = rows["onnx"]
    for row in rows.values():
        row["size_ratio"] = round(row["size_bytes"] / base["size_bytes"], 3)
        row["latency_ratio"] = {k: round(v / base["latency_ms"][k], 3) for k, v in row["latency_ms"].items()}
        row["accuracy_delta_points"] = (round(100 * (row["accuracy"] - base["accuracy"]), 2)
                                        if row["accuracy"] is not None else None)
    return rows


def main() -> None:
    import onnxruntime
    import torch

    results = {"machine": {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
                           "onnxruntime": onnxruntime.__version__, "threads": torch.get_num_threads()},
               "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results["models"]["small_cnn_digits"] = bench("cnn", small_cnn_source(tmp), tmp)
        results["models"]["resnet18_32x32"] = bench("resnet18", resnet18_source(), tmp)
    print(f"\n{'model':18} {'format':18} {'size':>6} {'lat b1':>7} {'lat b32':>7} {'acc delta':>9}")
    for model, rows in results["models"].items():
        for fmt, row in rows.items():
            delta = row["accuracy_delta_points"]
            print(f"{model:18} {fmt:18} {row['size_ratio']:6.2f} {row['latency_ratio']['batch_1']:7.2f} "
                  f"{row['latency_ratio']['batch_32']:7.2f} {'n/a' if delta is None else f'{delta:+.2f}':>9}")
    out = ROOT / "bench" / "results" / "export.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
