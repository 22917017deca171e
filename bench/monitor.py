"""What the hardware monitor costs. Goals: <= 5 ms a sample, <= 1% of a core for the app idling with the
monitor at 1 Hz.

Side by side in one run:
  1. one sample: psutil only, psutil + NVML as found here, psutil + two simulated GPUs with processes
     (our GPU code without a driver's own cost: on a real GPU machine the NVML calls add to it);
  2. the app idling (offscreen QApplication, Hardware panel) for --seconds with the monitor off, then at 1 Hz:
     CPU time of this process per second of wall time, as a percent of one core.
Writes bench/results/monitor.json.  Usage: python bench/monitor.py [--seconds 20] [--samples 300]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
RESULTS = Path(__file__).resolve().parent / "results" / "monitor.json"


def sample_cost(samples: int) -> dict:
    from workbench.core.hardware.gpu import GpuReader
    from workbench.core.hardware.sampler import HardwareSampler
    from workbench.core.hardware.simulated import SimulatedNvml, demo_gpus
    from workbench.core.hardware.system import SystemReader

    def timed(fn) -> dict:
        fn()  # warm-up (psutil priming, NVML init)
        times = []
        for _ in range(samples):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        return {
            "median_ms": round(statistics.median(times), 3),
            "p95_ms": round(times[int(0.95 * len(times))], 3),
            "max_ms": round(times[-1], 3),
        }

    system = SystemReader()
    real = HardwareSampler(probe_torch=False)
    simulated = HardwareSampler(backend=SimulatedNvml(demo_gpus(os.getpid())), probe_torch=False)
    gpu_only = GpuReader(SimulatedNvml(demo_gpus(os.getpid())))
    try:
        result = {
            "psutil_only": timed(system.read),
            "full_sample_here": timed(real.sample),
            "full_sample_2_simulated_gpus": timed(simulated.sample),
            "gpu_reader_2_simulated_gpus": timed(gpu_only.read),
        }
        result["gpus_here"] = len(real.latest.gpus)
        result["gpu_error_here"] = real.latest.gpu_error
    finally:
        real.stop()
        simulated.stop()
    return result


def idle_cpu(seconds: float) -> dict:
    """CPU share of an idle app with the Hardware panel, monitor off vs on at 1 Hz."""
    import psutil
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from workbench.core.hardware.sampler import HardwareSampler
    from workbench.core.paths import SAMPLE_PROJECT
    from workbench.ui.panels.hardware import HardwarePanel
    from workbench.ui.session import ProjectSession

    app = QApplication.instance() or QApplication(sys.argv)
    me = psutil.Process()

    def run(start: bool) -> dict:
        session = ProjectSession()
        session.open(SAMPLE_PROJECT)
        panel = HardwarePanel(session, sampler=HardwareSampler(1.0), start=start)
        panel.resize(740, 300)
        panel.show()
        shown = []
        panel.sig_snapshot_shown.connect(shown.append)
        loop = QEventLoop()
        QTimer.singleShot(1500, loop.quit)  # settle: first sample, first paint
        loop.exec()
        shown.clear()
        cpu0, wall0 = me.cpu_times(), time.perf_counter()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()
        cpu1, wall1 = me.cpu_times(), time.perf_counter()
        panel.shutdown()
        panel.close()
        panel.deleteLater()
        app.processEvents()
        used = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        return {
            "seconds": round(wall1 - wall0, 2),
            "cpu_seconds": round(used, 4),
            "percent_of_a_core": round(100 * used / (wall1 - wall0), 3),
            "snapshots_shown": len(shown),
        }

    off = run(start=False)
    on = run(start=True)
    return {
        "monitor_off": off,
        "monitor_on_1hz": on,
        "monitor_cost_percent_of_a_core": round(on["percent_of_a_core"] - off["percent_of_a_core"], 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    cost = sample_cost(args.samples)
    idle = idle_cpu(args.seconds)
    result = {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "sample": cost,
        "idle": idle,
        "goals": {"sample_ms": 5.0, "idle_percent_of_a_core": 1.0},
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    s = cost
    base = s["psutil_only"]["median_ms"]
    print(f"one sample (median of {args.samples}):")
    for key in (
        "psutil_only",
        "full_sample_here",
        "full_sample_2_simulated_gpus",
        "gpu_reader_2_simulated_gpus",
    ):
        v = s[key]
        print(
            f"  {key:30s} {v['median_ms']:7.3f} ms  (p95 {v['p95_ms']:.3f}, max {v['max_ms']:.3f})  "
            f"x{v['median_ms'] / base:.2f} of psutil alone"
        )
    print(f"  GPUs here: {s['gpus_here']}  ({s['gpu_error_here'] or 'NVML ok'})")
    off, on = idle["monitor_off"], idle["monitor_on_1hz"]
    print(
        f"app idling {args.seconds:g} s: monitor off {off['percent_of_a_core']:.3f}% of a core, "
        f"monitor at 1 Hz {on['percent_of_a_core']:.3f}% ({on['snapshots_shown']} snapshots shown); "
        f"the monitor costs {idle['monitor_cost_percent_of_a_core']:.3f}% of a core "
        f"(ratio on/off x{on['percent_of_a_core'] / max(off['percent_of_a_core'], 1e-3):.1f})"
    )
    worst = max(s["full_sample_here"]["median_ms"], s["full_sample_2_simulated_gpus"]["median_ms"])
    print(
        f"goals: sample {worst:.2f} ms <= 5 ms: {'met' if worst <= 5 else 'MISSED'}; "
        f"idle {on['percent_of_a_core']:.2f}% <= 1%: {'met' if on['percent_of_a_core'] <= 1 else 'MISSED'}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
