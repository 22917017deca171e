"""Start-up time: from process start to the window shown, to the panels built, and to the trainer process ready
(torch imported there, in the background: the GUI process never imports it).

Runs `python -m workbench` (offscreen) several times and prints the medians. Goal: window <= 1.5 s.
Usage: python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "startup.json"


def one_run(home: str) -> dict[str, float]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "WORKBENCH_STARTUP_TRACE": "1",
        "WORKBENCH_EXIT_AFTER": "8",
        "WORKBENCH_HOME": home,
    }
    start = time.time()
    out = subprocess.run(
        [sys.executable, "-m", "workbench"], capture_output=True, text=True, env=env, timeout=120
    )
    marks = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "startup":
            marks[parts[1]] = float(parts[2]) - start
    if "window_shown" not in marks:
        raise SystemExit(f"no start-up trace; stderr:\n{out.stderr[-2000:]}")
    return marks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import tempfile

    runs = []
    with tempfile.TemporaryDirectory() as home:
        one_run(home)  # warm the file cache
        for i in range(args.runs):
            runs.append(one_run(home))
            print(f"run {i + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in runs[-1].items()))
    summary = {
        key: round(statistics.median(r[key] for r in runs if key in r), 3)
        for key in ("window_shown", "panels_built", "event_loop", "trainer_ready")
    }
    summary.update(runs=args.runs, goal_window_s=1.5, python=sys.version.split()[0], cpus=os.cpu_count())
    print(
        f"median: window shown {summary['window_shown']:.2f} s, panels built {summary['panels_built']:.2f} s, "
        f"trainer process ready {summary['trainer_ready']:.2f} s (goal: window <= 1.5 s)"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
