"""CSV inspect benchmark: peak memory and time of `workbench data inspect` on a large CSV, against its size.

    .venv/bin/python bench/csv_inspect.py [--mb 200] [--keep]

Writes a CSV of about `--mb` MB in a temp folder (8 numeric feature columns with ~1% missing cells, one
categorical column of 5 values, a text target of 4 classes; fixed seed), then runs
`python -m workbench data inspect FILE --json` in a child process and reads the child's peak RSS
(its VmHWM, polled) and its wall time. The baseline is a child that only imports
Workbench's CSV source (no file read), so the figure for the data itself is peak - baseline.
Writes bench/results/csv_inspect.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def make_csv(path: Path, megabytes: float, seed: int = 0) -> int:
    """Write the CSV in blocks of 100,000 rows; returns the row count."""
    rng = np.random.default_rng(seed)
    target = int(megabytes * 1e6)
    colours = np.array(["red", "green", "blue", "cyan", "black"])
    labels = np.array(["alpha", "beta", "gamma", "delta"])
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join([f"f{i}" for i in range(8)] + ["colour", "label"]) + "\n")
        while fh.tell() < target:
            n = 100_000
            x = rng.normal(0, 10, (n, 8)).round(4).astype(str)
            x[rng.random((n, 8)) < 0.01] = ""
            block = np.column_stack([x, colours[rng.integers(0, 5, n)], labels[rng.integers(0, 4, n)]])
            fh.write("\n".join(",".join(r) for r in block.tolist()) + "\n")
            rows += n
    return rows


def _hwm_mb(pid: int) -> float | None:
    """The process's peak RSS so far (VmHWM, its own address space only), or None once it has exited."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def run_child(args: list[str]) -> tuple[float, float, str]:
    """(peak RSS in MB, wall seconds, stdout) of one child process. The peak is the child's VmHWM, polled
    every 20 ms (getrusage's ru_maxrss would include this process's memory at the fork)."""
    start = time.perf_counter()
    peak = 0.0
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen([sys.executable, *args], stdout=out, stderr=err, cwd=ROOT)
        while child.poll() is None:
            peak = max(peak, _hwm_mb(child.pid) or 0.0)
            time.sleep(0.02)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if child.returncode != 0:
        raise SystemExit(f"child failed ({child.returncode}): {stderr.strip()[-400:]}")
    return peak, wall, stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mb", type=float, default=200.0, help="size of the generated CSV in MB (default 200)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="wb-csv-bench-"))
    try:
        csv_path = folder / "big.csv"
        t0 = time.perf_counter()
        rows = make_csv(csv_path, args.mb)
        size_mb = csv_path.stat().st_size / 1e6
        print(
            f"wrote {csv_path}: {size_mb:.1f} MB, {rows:,} rows in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        base_rss, base_wall, _ = run_child(["-c", "import workbench.core.data.tabular, workbench.cli"])
        rss, wall, out = run_child(["-m", "workbench", "data", "inspect", str(csv_path), "--json"])
        report = json.loads(out)
        result = {
            "file_mb": round(size_mb, 1),
            "rows": rows,
            "columns": 10,
            "peak_rss_mb": round(rss, 1),
            "baseline_rss_mb": round(base_rss, 1),
            "data_rss_mb": round(rss - base_rss, 1),
            "peak_rss_over_file": round(rss / size_mb, 2),
            "data_rss_over_file": round((rss - base_rss) / size_mb, 2),
            "seconds": round(wall, 1),
            "baseline_seconds": round(base_wall, 1),
            "mb_per_second": round(size_mb / max(wall - base_wall, 1e-6), 1),
            "num_samples": report["num_samples"],
            "num_classes": report["num_classes"],
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
            },
        }
        out_path = ROOT / "bench" / "results" / "csv_inspect.json"
        out_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(result, indent=2))
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
