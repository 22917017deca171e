"""Render the Hardware panel to PNGs (offscreen): with two simulated GPUs and ten minutes of history, and in
the no-GPU state. `python -m workbench.ui.panels.hardware.screenshot docs/screenshots`."""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

SIZE = (740, 300)  # the bottom dock at 1280x800


def _history_from(sampler, seconds: int) -> None:
    """Fill the sampler's history with `seconds` of simulated samples ending now (a training job ramping up)."""
    from workbench.core.hardware.history import History

    backend = sampler.gpus.backend
    now, start = time.time(), time.monotonic()
    history = History()
    snapshot = None
    for k in range(seconds):
        backend._t0 = start - k  # the simulated GPUs' clock
        snapshot = sampler.sample()
        busy = 55 + 30 * math.sin(k / 40) + 8 * math.sin(k / 3)
        cpu = replace(snapshot.cpu, percent=busy, per_core=tuple(busy for _ in snapshot.cpu.per_core))
        process = replace(snapshot.process, cpu_percent=busy * 0.6)
        snapshot = replace(snapshot, time=now - seconds + k, cpu=cpu, process=process)
        history.append(snapshot)
    sampler.history = history
    return snapshot


def _publish_demo_plan(session, snapshot) -> None:
    """The next run's planned peak on GPU 0's memory bar: ResNet-18 on 224x224 images at batch 128, traced here
    (the window traces it in the trainer process)."""
    from workbench.core.hardware.fit import plan_memory
    from workbench.core.model.spec import ModelSpec

    spec = ModelSpec(
        input_shape=[3, 224, 224],
        layers=[{"type": "TorchvisionModel", "name": "resnet18", "num_classes": 10}],
    )
    config = session.project.training.model_copy(update={"batch_size": 128})
    session.memory.publish(plan_memory(spec, config, "cuda:0", snapshot, search=True))


def render(out_dir: str | os.PathLike) -> list[Path]:
    from PySide6.QtWidgets import QApplication

    from workbench.core.hardware import nvml
    from workbench.core.hardware.sampler import HardwareSampler
    from workbench.core.hardware.simulated import SimulatedNvml, demo_gpus
    from workbench.core.paths import SAMPLE_PROJECT
    from workbench.ui.panels.hardware.panel import HardwarePanel
    from workbench.ui.session import ProjectSession

    app = QApplication.instance() or QApplication(sys.argv)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    no_gpu = SimulatedNvml()
    no_gpu.fail["init"] = nvml.DRIVER_NOT_LOADED
    cases = (
        ("hardware.png", SimulatedNvml(demo_gpus(os.getpid()), animate=True), "cuda:0"),
        ("hardware-nogpu.png", no_gpu, "auto"),
    )
    for name, backend, device in cases:
        session = ProjectSession()
        session.open(SAMPLE_PROJECT)
        session.set_device(device)
        panel = HardwarePanel(session, sampler=HardwareSampler(backend=backend), start=False)
        try:
            panel.plot.set_seconds(600)
            panel.range_buttons.button(1).setChecked(True)
            last = _history_from(panel.sampler, 600)
            panel.resize(*SIZE)
            panel.show()
            panel.show_snapshot(last)
            if name == "hardware.png":
                _publish_demo_plan(session, last)
            for _ in range(5):
                app.processEvents()
                time.sleep(0.02)
            path = out / name
            panel.grab().save(str(path))
            written.append(path)
        finally:
            panel.shutdown()
            panel.close()
            panel.deleteLater()
    app.processEvents()
    return written


if __name__ == "__main__":
    for p in render(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"):
        print(p)
