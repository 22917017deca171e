"""The live view as a user meets it: the real main window (offscreen), the sample project (digits, its CNN),
Start clicked right after the window appears, a 10 ms QTimer probing the GUI event loop over the whole run.

Each measurement is a fresh process, like a user launching the app (`--one cold|warm`):
  cold  Start is clicked 1 s after the window is first painted (the trainer process is still importing torch);
  warm  Start is clicked once the trainer process is ready and has the data (a user who looked around first).
Reported per mode (median over the repeats; latency: the worst repeat):
  - event-loop lateness of the 10 ms probe from Start to the run's end (p50 / p99 / max), and from the window's
    first paint to the run's end;
  - Start clicked -> the first loss point painted;
  - frames painted per second while training (paints of the loss plot that showed new points);
  - RSS of the GUI process (and of the trainer process) while training.
Writes bench/results/gui_latency.json.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/gui_latency.py [--epochs 12] [--repeats 3]

`--one MODE` prints one JSON line; it runs against whatever `workbench` is importable (PYTHONPATH), so the same
script measures an older checkout for a before/after comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "gui_latency.json"
PROBE_MS = 10


def wait(condition, timeout: float, interval_ms: int = 20) -> bool:
    """Run the event loop (idle between events, as a user's window is) until `condition()` or `timeout`, checking
    every `interval_ms`."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop, end = QEventLoop(), time.perf_counter() + timeout
    check = QTimer()
    check.setInterval(interval_ms)
    check.timeout.connect(lambda: (condition() or time.perf_counter() >= end) and loop.quit())
    check.start()
    if not condition():
        loop.exec()
    check.stop()
    return condition()


def one(mode: str, epochs: int) -> dict:
    import numpy as np
    import psutil
    from PySide6.QtCore import QElapsedTimer, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    launched = time.perf_counter()
    app = QApplication.instance() or QApplication([])
    from workbench.app import _load_plugins
    from workbench.core.paths import sample_project
    from workbench.ui.main_window import MainWindow
    from workbench.ui.widgets.live_plot import LivePlot

    paints: list[tuple[float, int]] = []  # (time, points in the loss curve) of each loss-plot paint
    original_paint = LivePlot.paintEvent

    def recording_paint(self, event):
        original_paint(self, event)
        if self.objectName() == "lossPlot":
            paints.append((time.perf_counter(), len(self.series["loss"]) if "loss" in self.series else 0))

    LivePlot.paintEvent = recording_paint
    _load_plugins()
    window = MainWindow(defer_panels=True)
    window.show()
    app.processEvents()
    appeared = time.perf_counter()
    gaps: list[tuple[float, float]] = []  # (time, lateness ms)
    clock = QElapsedTimer()
    last = [0]
    probe = QTimer()
    probe.setTimerType(Qt.PreciseTimer)
    probe.setInterval(PROBE_MS)

    def on_probe():
        now = clock.nsecsElapsed()
        gaps.append((time.perf_counter(), (now - last[0]) / 1e6 - PROBE_MS))
        last[0] = now

    probe.timeout.connect(on_probe)
    clock.start()
    probe.start()
    window.build_panels()
    window.open_project(str(sample_project()), confirmed=True)
    session = window.session
    session.project.training.epochs = epochs
    panel = window.panels["trainingDock"]
    jobs = getattr(session, "jobs", None)

    app.processEvents()  # the user can click once the panels are there and painted
    if mode == "cold":
        wait(lambda: False, max(0.0, appeared + 1.0 - time.perf_counter()))
    else:
        if jobs is not None:
            wait(
                lambda: (
                    jobs.host.process is not None
                    and jobs.host.process.ready
                    and session.data is not None
                    and jobs.current("prepare") is None
                ),
                60,
            )
        else:  # before the trainer process: the GUI's own torch warm-up thread
            wait(lambda: "torch" in sys.modules and session.data is not None, 60)
        wait(lambda: False, 1.0)
    start_button = panel.start_button
    clicked = time.perf_counter()
    QTest.mouseClick(start_button, Qt.LeftButton)
    me = psutil.Process()
    rss, trainer_rss = [], []
    next_sample = time.perf_counter()

    def running() -> bool:
        nonlocal next_sample
        if time.perf_counter() >= next_sample:
            next_sample += 0.5
            rss.append(me.memory_info().rss)
            pid = jobs.host.pid if jobs is not None else None
            if pid:
                with contextlib.suppress(psutil.NoSuchProcess):
                    trainer_rss.append(psutil.Process(pid).memory_info().rss)
        return panel.running or not start_button.isEnabled()

    wait(lambda: panel.running, 5)
    wait(lambda: not running(), 600)
    ended = time.perf_counter()
    probe.stop()
    finished = getattr(panel, "last_finished", None)
    status = getattr(finished, "status", "?")
    run_gaps = np.array([g for t, g in gaps if clicked <= t <= ended] or [0.0])
    all_gaps = np.array([g for _, g in gaps] or [0.0])
    shown = [(t, n) for t, n in paints if t >= clicked and n > 0]
    if os.environ.get("GUI_LATENCY_DEBUG"):
        worst = sorted(((g, t) for t, g in gaps if clicked <= t <= ended), reverse=True)[:12]
        print(
            "worst gaps (ms, s after click)",
            [(round(g, 1), round(t - clicked, 2)) for g, t in worst],
            "run",
            round(ended - clicked, 2),
            flush=True,
        )
        print(
            "paints after click",
            [(round(t - clicked, 3), n) for t, n in paints if t >= clicked][:8],
            flush=True,
        )
    first_point = shown[0][0] - clicked if shown else None
    frames, seen = 0, 0
    for _, n in shown:
        if n > seen:
            frames += 1
            seen = n
    training_s = (shown[-1][0] - shown[0][0]) if len(shown) > 1 else 0.0
    result = {
        "mode": mode,
        "status": status,
        "epochs": epochs,
        "window_appeared_s": appeared - launched,
        "start_clicked_after_window_s": clicked - appeared,
        "first_point_painted_s": first_point,
        "frames_per_s": frames / training_s if training_s else 0.0,
        "frames": frames,
        "run_s": ended - clicked,
        "latency_run_ms": {
            "p50": float(np.percentile(run_gaps, 50)),
            "p99": float(np.percentile(run_gaps, 99)),
            "max": float(run_gaps.max()),
            "probes": len(run_gaps),
        },
        "latency_from_window_ms": {
            "p50": float(np.percentile(all_gaps, 50)),
            "p99": float(np.percentile(all_gaps, 99)),
            "max": float(all_gaps.max()),
        },
        "gui_rss_mb": {
            "median": statistics.median(rss) / 2**20 if rss else None,
            "max": max(rss) / 2**20 if rss else None,
        },
        "trainer_rss_mb": {"median": statistics.median(trainer_rss) / 2**20 if trainer_rss else None},
        "gui_imported_torch": "torch" in sys.modules,
    }
    window.close()
    app.processEvents()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", choices=("cold", "warm"))
    parser.add_argument("--label", default="current", help="the key the results go under (e.g. before)")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if args.one:
        result = one(args.one, args.epochs)
        print("RESULT " + json.dumps(result), flush=True)
        import workbench.app

        return getattr(workbench.app, "finish", lambda code: code)(0)  # (an older checkout has none)
    rows: dict[str, list] = {"cold": [], "warm": []}
    for _ in range(args.repeats):
        for mode in ("cold", "warm"):
            with tempfile.TemporaryDirectory() as home:
                env = {**os.environ, "WORKBENCH_HOME": home, "XDG_CONFIG_HOME": str(Path(home) / "config")}
                out = subprocess.run(
                    [sys.executable, __file__, "--one", mode, "--epochs", str(args.epochs)],
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=900,
                )
            line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                print(out.stdout[-2000:], out.stderr[-3000:], file=sys.stderr)
                return 1
            row = json.loads(line[7:])
            rows[mode].append(row)
            print(
                f"{mode}: start->first point {row['first_point_painted_s']:.2f} s, "
                f"{row['frames_per_s']:.1f} frames/s, latency over the run p50/p99/max "
                f"{row['latency_run_ms']['p50']:.1f}/{row['latency_run_ms']['p99']:.1f}/"
                f"{row['latency_run_ms']['max']:.1f} ms (from the window: max "
                f"{row['latency_from_window_ms']['max']:.1f} ms), GUI RSS {row['gui_rss_mb']['median']:.0f} MB, "
                f"torch in the GUI: {row['gui_imported_torch']}",
                flush=True,
            )
    summary = {}
    for mode, runs in rows.items():
        summary[mode] = {
            "first_point_painted_s": statistics.median(r["first_point_painted_s"] for r in runs),
            "frames_per_s": statistics.median(r["frames_per_s"] for r in runs),
            "latency_run_p50_ms": statistics.median(r["latency_run_ms"]["p50"] for r in runs),
            "latency_run_p99_ms": max(r["latency_run_ms"]["p99"] for r in runs),
            "latency_run_max_ms": max(r["latency_run_ms"]["max"] for r in runs),
            "latency_from_window_max_ms": max(r["latency_from_window_ms"]["max"] for r in runs),
            "gui_rss_mb": statistics.median(r["gui_rss_mb"]["median"] for r in runs),
            "trainer_rss_mb": (
                statistics.median(r["trainer_rss_mb"]["median"] for r in runs)
                if runs[0]["trainer_rss_mb"]["median"]
                else None
            ),
            "gui_imported_torch": any(r["gui_imported_torch"] for r in runs),
        }
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[args.label] = {
        "settings": {
            "project": "sample (digits 8x8, CNN)",
            "epochs": args.epochs,
            "repeats": args.repeats,
            "probe_ms": PROBE_MS,
            "cpus": os.cpu_count(),
            "torch_threads": "default",
            "window": "MainWindow, QT_QPA_PLATFORM=offscreen",
        },
        "summary": summary,
        "runs": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
