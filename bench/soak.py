"""Soak test: the GUI trains the sample project for a long time with live plots on, and the process memory
(RSS) is recorded over time. Growth after the warm-up must stay bounded: the curves keep every point on disk
(metrics.jsonl) and a bounded amount in memory.

The whole MainWindow runs offscreen (all five panels, the hardware sampler, the Training panel's live plots
redrawn by its timer), on a copy of the sample project in a temp folder. One run with many epochs of digits
(the sample CNN) trains until the time is up; RSS is sampled every --interval seconds together with the step
count and the number of points the live plots hold. After --warmup (a fraction of the run), a least-squares
slope (MB/min) and the max-min spread are reported.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/soak.py [--minutes 30] [--interval 5] [--warmup 0.25]

Writes bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

RESULTS = Path(__file__).parent / "results" / "soak.json"
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def slope_mb_per_min(samples: list[dict]) -> float:
    """Least-squares slope of RSS (MB) against time (minutes)."""
    if len(samples) < 2:
        return 0.0
    xs = [s["t"] / 60 for s in samples]
    ys = [s["rss_mb"] for s in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def plot_points(panel) -> int:
    """How many points the Training panel's live plots hold in memory (all series, x and y arrays)."""
    total = 0
    for plot in panel.curves.findChildren(type(panel.curves.loss)):
        for series in plot.series.values():
            total += len(series)
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to train (default 30)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between RSS samples (default 5)")
    parser.add_argument(
        "--warmup", type=float, default=0.25, help="fraction of the run excluded as warm-up (default 0.25)"
    )
    parser.add_argument(
        "--plot-points",
        type=int,
        default=None,
        help="points each live-plot series keeps in memory (default: LivePlot's MAX_POINTS); "
        "a small value shows the bound within a short soak",
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="tracemalloc: print the Python allocation sites that grew most after the warm-up",
    )
    parser.add_argument("--out", default=str(RESULTS), help="the JSON results file")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="wb-soak-"))
    os.environ["WORKBENCH_HOME"] = str(home / "home")
    os.environ["XDG_CONFIG_HOME"] = str(home / "config")
    import psutil
    import torch
    from PySide6.QtCore import QEventLoop, QStandardPaths, QTimer
    from PySide6.QtWidgets import QApplication

    QStandardPaths.setTestModeEnabled(True)  # QSettings never touch the user's real settings
    from workbench.core.paths import SAMPLE_PROJECT
    from workbench.core.project import load_project, save_project
    from workbench.ui.main_window import MainWindow

    torch.set_num_threads(1)
    project_path = home / "project" / "digits.wbproj"
    project_path.parent.mkdir(parents=True)
    shutil.copyfile(SAMPLE_PROJECT, project_path)
    project = load_project(project_path)
    project.training = project.training.model_copy(update={"epochs": 100_000, "device": "cpu"})
    save_project(project, project_path)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    assert window.open_project(project_path, confirmed=True)
    panel = window.panels["trainingDock"]
    from workbench.ui.widgets.live_plot import MAX_POINTS, LivePlot

    max_points = args.plot_points or MAX_POINTS
    for plot in window.findChildren(LivePlot):
        plot.max_points = max_points
    process = psutil.Process()

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents(QEventLoop.AllEvents, 50)
            time.sleep(0.005)

    pump(1.0)
    assert panel.start(), "the Training panel refused to start"
    t0 = time.monotonic()
    samples: list[dict] = []
    baseline = None
    duration = args.minutes * 60
    while True:
        pump(args.interval)
        now = time.monotonic() - t0
        sample = {
            "t": round(now, 2),
            "rss_mb": round(process.memory_info().rss / 2**20, 2),
            "epoch": panel.epoch_bar.value(),
            "plot_points": plot_points(panel),
        }
        samples.append(sample)
        print(
            f"{now:7.0f} s  rss {sample['rss_mb']:8.1f} MB  epoch {sample['epoch']:6d}  "
            f"plot points {sample['plot_points']:9,d}",
            flush=True,
        )
        if args.trace and baseline is None and now >= args.warmup * duration:
            import tracemalloc

            tracemalloc.start(8)
            baseline = tracemalloc.take_snapshot()
        if now >= duration or not panel.running:
            break
    if baseline is not None:
        import tracemalloc

        growth = tracemalloc.take_snapshot().compare_to(baseline, "traceback")
        print("\nPython allocations that grew most after the warm-up:")
        for stat in growth[:12]:
            print(
                f"  {stat.size_diff / 2**10:+9.1f} KiB {stat.count_diff:+7d} blocks  "
                + " <- ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in stat.traceback[:4])
            )
        tracemalloc.stop()
    panel.stop()
    deadline = time.monotonic() + 30
    while panel.running and time.monotonic() < deadline:
        pump(0.2)
    from workbench.core.training.runs import list_runs

    runs = list_runs(project_path.parent / "runs")
    run = runs[-1] if runs else None
    metrics_lines = 0
    if run is not None:
        with open(run.path / "metrics.jsonl", encoding="utf-8") as fh:
            metrics_lines = sum(1 for _ in fh)
    window.close()
    window.shutdown()
    pump(0.5)
    window.deleteLater()
    pump(0.2)

    cut = args.warmup * samples[-1]["t"]
    after = [s for s in samples if s["t"] >= cut]
    rss_after = [s["rss_mb"] for s in after]
    result = {
        "minutes": round(samples[-1]["t"] / 60, 2),
        "interval_s": args.interval,
        "warmup_fraction": args.warmup,
        "epochs": samples[-1]["epoch"],
        "metrics_lines_on_disk": metrics_lines,
        "run_status": run.status if run else None,
        "rss_start_mb": samples[0]["rss_mb"],
        "rss_end_mb": samples[-1]["rss_mb"],
        "rss_after_warmup_min_mb": min(rss_after),
        "rss_after_warmup_max_mb": max(rss_after),
        "growth_after_warmup_mb": round(max(rss_after) - min(rss_after), 2),
        "slope_after_warmup_mb_per_min": round(slope_mb_per_min(after), 3),
        "slope_whole_run_mb_per_min": round(slope_mb_per_min(samples), 3),
        "plot_points_end": samples[-1]["plot_points"],
        "plot_max_points_per_series": max_points,
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
        },
        "samples": samples,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from workbench.core.io import atomic_write_json

    atomic_write_json(out, result)
    print(
        f"\n{result['minutes']} min, {result['epochs']} epochs, {metrics_lines:,} metrics lines on disk, "
        f"{result['plot_points_end']:,} points in the live plots"
    )
    print(
        f"RSS {result['rss_start_mb']:.0f} -> {result['rss_end_mb']:.0f} MB; after warm-up: slope "
        f"{result['slope_after_warmup_mb_per_min']:+.2f} MB/min, max-min {result['growth_after_warmup_mb']:.1f} MB"
    )
    print(f"wrote {out}")
    shutil.rmtree(home, ignore_errors=True)
    QTimer.singleShot(0, app.quit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
