"""DistributedDataParallel throughput: the plain loop vs torchrun with 1 and N processes, same project and batch.

Side by side in one run, each a fresh `workbench train` over the digits sample project (global batch 64):
  plain       workbench train                                 (one process, no DDP)
  ddp-1       torchrun --nproc-per-node 1 -m workbench train  (DDP over one process: the wrapper's own cost)
  ddp-N       torchrun --nproc-per-node N -m workbench train  (gloo on CPUs, nccl with one GPU per process)

Reports steady-state samples/s (epochs 2..N from metrics.jsonl timestamps, all processes together; the ratio is
to the plain loop), the run's own samples/s (summary.json: includes one-time costs of the first epoch) and the
wall time including interpreter and torch start-up; writes bench/results/distributed.json.
On a 2-core machine two processes compete for the same cores (and digits batches are tiny, so the all-reduce
dominates): the figure says little about scaling. On a GPU machine pass --device cuda.

Usage: python bench/distributed.py [--epochs 5] [--procs 2] [--device cpu|cuda] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results") / "distributed.json"
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def run_once(procs: int | None, epochs: int, device: str) -> dict:
    from workbench.core.paths import SAMPLE_PROJECT

    with tempfile.TemporaryDirectory(prefix="wb-bench-ddp-") as tmp:
        project = Path(tmp) / "digits.wbproj"
        shutil.copy(SAMPLE_PROJECT, project)
        train = [
            "-m",
            "workbench",
            "train",
            str(project),
            "--epochs",
            str(epochs),
            "--batch-size",
            "64",
            "--device",
            device,
            "--run-dir",
            str(Path(tmp) / "run"),
        ]
        cmd = (
            [sys.executable, *train]
            if procs is None
            else [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                "--nproc-per-node",
                str(procs),
                *train,
            ]
        )
        env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_ENV}
        env.setdefault("OMP_NUM_THREADS", "1")  # what torchrun sets for its workers; the same for all rows
        started = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
        summary = json.loads((Path(tmp) / "run" / "summary.json").read_text())
        lines = [json.loads(line) for line in (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()]
    # steady state: epochs 2..N from the metrics timestamps (the first epoch pays one-time costs, e.g. the
    # lazy
    # import of torch._dynamo at the first optimizer step, which the plain loop counts and DDP pays at set-up)
    epochs = [e for e in lines if e["kind"] == "epoch"]
    later = [b for b in lines if b["kind"] == "batch" and b["epoch"] > 1]
    steady = len(later) * 64 / (epochs[-1]["time"] - epochs[0]["time"])
    return {
        "steady_samples_per_second": steady,
        "samples_per_second": summary["samples_per_second"],
        "train_seconds": summary["elapsed"],
        "wall_seconds": wall,
        "best_val_accuracy": summary["best_val_accuracy"],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    rows = {"plain": None, "ddp-1": 1, f"ddp-{args.procs}": args.procs}
    results: dict[str, dict] = {}
    for name, procs in rows.items():
        runs = [run_once(procs, args.epochs, args.device) for _ in range(args.repeat)]
        results[name] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    base = results["plain"]["steady_samples_per_second"]
    print(
        f"{'':10} {'steady/s':>9} {'vs plain':>9} {'run/s':>7} {'train s':>8} {'wall s':>7} {'best val':>9}"
    )
    for name, r in results.items():
        r["steady_ratio_vs_plain"] = r["steady_samples_per_second"] / base
        print(
            f"{name:10} {r['steady_samples_per_second']:9.0f} {r['steady_ratio_vs_plain']:8.2f}x "
            f"{r['samples_per_second']:7.0f} {r['train_seconds']:8.2f} {r['wall_seconds']:7.1f} "
            f"{r['best_val_accuracy']:9.4f}"
        )
    doc = {
        "benchmark": "distributed",
        "device": args.device,
        "epochs": args.epochs,
        "global_batch": 64,
        "repeat": args.repeat,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "platform": platform.platform(),
        },
        "results": results,
        "time": time.time(),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
