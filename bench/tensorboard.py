"""What TensorBoard event files cost a run. Goal: < 20 us per scalar written (each line flushed as written).

Side by side in one run, on a temp folder:
  1. EventWriter.line for a batch line (loss, lr: 2 scalars) and a language model's (+ perplexity: 3), and an epoch
     line (7 scalars): microseconds per line and per scalar (median of --repeats passes of --lines lines);
  2. RunWriter.write (metrics.jsonl + event file, what the trainer calls per batch) against metrics.jsonl alone;
  3. export_run of a --lines-step run from metrics.jsonl (`workbench runs export-tb`).
Writes bench/results/tensorboard.json with os.getloadavg() (the machine may be shared: rerun it quiet).
Usage: python bench/tensorboard.py [--lines 20000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "tensorboard.json"


def _per_line(fn, lines: int, repeats: int) -> float:
    """Median over `repeats` of the microseconds per call of fn(i) for i in range(lines)."""
    passes = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(lines):
            fn(i)
        passes.append((time.perf_counter() - start) / lines * 1e6)
    return statistics.median(passes)


def lines_cost(folder: Path, lines: int, repeats: int) -> dict:
    from workbench.core.training.tensorboard import EventWriter

    writer = EventWriter(folder)
    out = {}
    cases = {
        "batch": {"kind": "batch", "step": 1, "epoch": 1, "loss": 0.4321, "lr": 1e-3, "time": time.time()},
        "batch_language_model": {
            "kind": "batch",
            "step": 1,
            "epoch": 1,
            "loss": 3.21,
            "lr": 3e-4,
            "perplexity": 24.8,
            "time": time.time(),
        },
        "epoch": {
            "kind": "epoch",
            "epoch": 1,
            "train_loss": 0.5,
            "train_accuracy": 0.8,
            "val_loss": 0.6,
            "val_accuracy": 0.78,
            "train_perplexity": 1.6,
            "val_perplexity": 1.8,
            "lr": 1e-3,
            "step": 1,
            "time": time.time(),
        },
    }
    for name, line in cases.items():
        scalars = sum(1 for k in line if k not in ("kind", "step", "epoch", "time"))

        def write(i: int, line=line) -> None:
            line["step"] = i
            writer.line(line)

        us = _per_line(write, lines, repeats)
        out[name] = {"scalars": scalars, "us_per_line": round(us, 2), "us_per_scalar": round(us / scalars, 2)}
    writer.close()
    return out


def run_writer_cost(root: Path, lines: int, repeats: int) -> dict:
    from workbench.core.training import runs

    config = {"run_id": "bench", "created": time.time(), "training": {"lr": 1e-3, "batch_size": 64}}
    line = {"kind": "batch", "step": 1, "epoch": 1, "loss": 0.4321, "lr": 1e-3, "time": time.time()}
    with_tb = runs.RunWriter(root / "with_tb", config)
    without = runs.RunWriter(root / "without_tb", config)
    without._close_tb()  # metrics.jsonl alone, as before event files

    def write_with(i: int) -> None:
        line["step"] = i
        with_tb.write(line)

    def write_without(i: int) -> None:
        line["step"] = i
        without.write(line)

    a = _per_line(write_with, lines, repeats)
    b = _per_line(write_without, lines, repeats)
    with_tb.finish({"status": "completed"})
    without.finish({"status": "completed"})
    return {"us_per_batch_line_jsonl_and_tb": round(a, 2), "us_per_batch_line_jsonl_only": round(b, 2)}


def export_cost(root: Path, lines: int) -> dict:
    from workbench.core.training.tensorboard import export_run

    run = root / "old-run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"run_id": "old-run", "training": {"lr": 1e-3}}))
    with open(run / "metrics.jsonl", "w") as fh:
        for i in range(1, lines + 1):
            fh.write(
                json.dumps({"kind": "batch", "step": i, "epoch": 1, "loss": 1.0 / i, "lr": 1e-3, "time": i})
            )
            fh.write("\n")
    (run / "summary.json").write_text(json.dumps({"status": "completed"}))
    start = time.perf_counter()
    export_run(run)
    return {"steps": lines, "seconds": round(time.perf_counter() - start, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results = {
            "event_writer": lines_cost(root / "a", args.lines, args.repeats),
            "run_writer": run_writer_cost(root, args.lines, args.repeats),
            "export": export_cost(root, args.lines),
        }
    per_scalar = max(case["us_per_scalar"] for case in results["event_writer"].values())
    doc = {
        "goal_us_per_scalar": 20,
        "worst_us_per_scalar": per_scalar,
        "met": per_scalar < 20,
        **results,
        "settings": {"lines": args.lines, "repeats": args.repeats},
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "note": "measured while other sessions shared the machine (load recorded); to be rerun on a quiet one",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
