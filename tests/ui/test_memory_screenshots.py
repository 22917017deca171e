"""Screenshots of the memory plan (`make screenshots`, not `make test`): the main window at 1280x800 with the
builder's read-out of the plan the trainer process traced, and with the training settings offering the fixes
for a batch that does not fit a GPU. Written to $WORKBENCH_SCREENSHOTS (docs/screenshots) or a temp folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workbench.core.paths import SAMPLE_PROJECT
from workbench.ui.main_window import MainWindow

pytestmark = pytest.mark.screenshots


def test_memory_plan_screenshots(qtbot, tmp_path):
    out = Path(os.environ.get("WORKBENCH_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    window = MainWindow()
    qtbot.addWidget(window)
    window.settings.clear()
    window.resize(1280, 800)
    window.show()
    window.reset_layout()
    session = window.session
    with qtbot.waitSignal(session.memory.sig_plan, timeout=120_000, check_params_cb=lambda p: p is not None):
        window.open_project(SAMPLE_PROJECT, confirmed=True)
    qtbot.waitUntil(lambda: session.data is not None, timeout=60_000)
    with qtbot.waitSignal(session.memory.sig_plan, timeout=60_000):
        session.memory.request()  # again with the training split's size known
    builder = window.docks["builderDock"]
    builder.show()
    builder.raise_()
    qtbot.wait(300)
    assert "Training peak" in builder.widget().memory.text()
    window.grab().save(str(out / "memory_builder_1280x800.png"))

    from workbench.core.hardware.sampler import HardwareSampler
    from workbench.core.hardware.simulated import SimulatedGpu, SimulatedNvml
    from workbench.core.units import GiB, MiB

    nearly_full = SimulatedGpu(used=24 * GiB - 600 * MiB, total=24 * GiB)  # someone else's job holds the rest
    session.start_sampling(HardwareSampler(backend=SimulatedNvml([nearly_full])))
    qtbot.waitUntil(lambda: bool(session.memory.latest and session.memory.latest.gpus), timeout=10_000)
    with qtbot.waitSignal(
        session.memory.sig_plan, timeout=60_000, check_params_cb=lambda p: p is not None and p.fits is False
    ):
        session.set_device("cuda:0")
        session.update_training(session.project.training.model_copy(update={"batch_size": 8192}))
    training = window.docks["trainingDock"].widget()
    training.tabs.setCurrentWidget(training.settings)
    qtbot.wait(300)
    assert training.settings.memory_box.buttons["accumulate"].isVisible()
    window.grab().save(str(out / "memory_training_settings_1280x800.png"))
    session._set_dirty(False)
    window.close()
