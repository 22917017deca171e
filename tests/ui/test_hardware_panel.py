"""HardwarePanel: snapshots from a simulated NVML and the real psutil path update the view and the session."""

import os
import re

import pytest

from workbench.core.hardware import HardwareSampler, nvml
from workbench.core.hardware.nvml import NvmlProcess
from workbench.core.hardware.simulated import GiB, SimulatedGpu, SimulatedNvml
from workbench.core.model.spec import LayerSpec, ModelSpec
from workbench.core.paths import SAMPLE_PROJECT
from workbench.ui.panels.hardware import HardwarePanel
from workbench.ui.session import ProjectSession

PID = os.getpid()


@pytest.fixture
def session():
    s = ProjectSession()
    s.open(SAMPLE_PROJECT)
    return s


@pytest.fixture(autouse=True)
def _fresh_settings():
    """The panel remembers interval, range and plot in QSettings: start each test from the defaults."""
    from PySide6.QtCore import QSettings

    QSettings("Workbench", "Workbench").remove("hardware")


@pytest.fixture
def make_panel(qtbot, session):
    panels = []

    def make(backend=None, start=False):
        sampler = HardwareSampler(backend=backend or SimulatedNvml(), probe_torch=False)
        panel = HardwarePanel(session, sampler=sampler, start=start)
        qtbot.addWidget(panel)
        panel.resize(740, 300)
        panel.show()
        panels.append(panel)
        return panel

    yield make
    for panel in panels:
        panel.shutdown()


def step(panel):
    """One sample, shown as the thread would show it."""
    snapshot = panel.sampler.sample()
    panel.session.publish_hardware(snapshot)
    return snapshot


def no_gpu(code=nvml.DRIVER_NOT_LOADED):
    backend = SimulatedNvml()
    backend.fail["init"] = code
    return backend


def test_gpu_snapshot_fills_meters_table_and_session(make_panel, session):
    backend = SimulatedNvml([SimulatedGpu(compute=[NvmlProcess(PID, 2 * GiB), NvmlProcess(4242, GiB)])])
    panel = make_panel(backend)
    published = []
    session.sig_hardware.connect(published.append)
    snapshot = step(panel)
    assert published == [snapshot]
    assert session.gpu_free == {"cuda:0": 21 * GiB}
    (gpu,) = panel.gpu_meters
    assert gpu.isVisible() and not panel.no_gpu_note.isVisible()
    assert "RTX 4090" in gpu.header.text() and "cuda:0" in gpu.header.text()
    assert gpu.value_text("util") == "87%"
    assert gpu.value_text("memory") == "3.0 GiB / 24.0 GiB"
    assert gpu.value_text("power") == "312 / 450 W"  # watts from NVML's milliwatts
    assert "66 °C" in gpu.detail.text() and "Workbench 2.0 GiB" in gpu.detail.text()
    rows = panel.processes.row_texts()
    assert rows[0][:3] == ["0", str(PID), "▶ Workbench (this process)"] and rows[0][3] == "2.0 GiB"
    assert panel.processes.item(0, 2).font().bold() and not panel.processes.item(1, 2).font().bold()
    assert f"of {snapshot.cpu.count} cores" in panel.system_meters.value_text("cpu")
    assert panel.device_combo.findData("cuda:0") >= 0
    assert "21.0 GiB free" in panel.device_combo.itemText(panel.device_combo.findData("cuda:0"))


def test_no_gpu_is_a_calm_complete_view(make_panel, session):
    panel = make_panel(no_gpu())
    seen = []
    session.sig_gpu_memory.connect(seen.append)
    for _ in range(3):
        step(panel)
    assert panel.no_gpu_note.isVisible() and not panel.gpu_meters
    assert panel.no_gpu_note.text().startswith("No NVIDIA GPU: the NVIDIA driver is not loaded")
    assert not panel.processes.isVisible()
    assert "GiB" in panel.system_meters.value_text("ram") and "free" in panel.system_meters.value_text("disk")
    assert re.search(
        r"\d (MiB|GiB) · CPU \d", panel.system_meters.value_text("process")
    )  # RSS grows past 1 GiB in a long run
    assert seen == [] and session.gpu_free == {}
    assert not panel.warning.isVisible()  # "auto" trains on the CPU: nothing to warn about
    gpu_groups = [i for i in range(panel.group_combo.count()) if "GPU" in panel.group_combo.itemText(i)]
    assert gpu_groups and not any(panel.group_combo.model().item(i).isEnabled() for i in gpu_groups)


def test_device_picker_and_session_follow_each_other(make_panel, session):
    panel = make_panel(SimulatedNvml([SimulatedGpu(), SimulatedGpu(uuid="GPU-2")]))
    step(panel)
    changes = []
    session.sig_device_changed.connect(changes.append)
    panel.device_combo.setCurrentIndex(panel.device_combo.findData("cuda:1"))
    assert session.device == "cuda:1" and changes == ["cuda:1"]
    session.set_device("cpu")
    assert panel.device_combo.currentData() == "cpu" and changes == ["cuda:1", "cpu"]  # no echo
    step(panel)
    assert panel.device_combo.currentData() == "cpu"  # a refresh keeps the choice


def big_model(session):
    # 64 -> 100k -> 10k: about a billion weights; with Adam about 16 GB to train
    session.update_model(
        ModelSpec(
            input_shape=[1, 8, 8],
            layers=[
                LayerSpec(type="Flatten"),
                LayerSpec(type="Linear", out_features=100_000),
                LayerSpec(type="Linear", out_features=10_000),
            ],
        )
    )


def publish_plan(session, snapshot):
    """What the trainer-process job "memory" sends (ui/memory.py), computed here: the panels' side of it."""
    from workbench.core.hardware.fit import plan_memory

    plan = plan_memory(
        session.project.model, session.project.training, session.device, snapshot, search=False
    )
    session.memory.publish(plan, None)
    return plan


def test_warns_when_the_model_will_not_fit_the_chosen_gpu(make_panel, session):
    from workbench.ui.panels.hardware.meters import RED

    panel = make_panel(SimulatedNvml([SimulatedGpu(used=20 * GiB, total=24 * GiB)]))
    session.set_device("cuda:0")
    publish_plan(session, step(panel))
    assert not panel.warning.isVisible()  # the sample project's small CNN fits
    bar = panel.gpu_meters[0].meters["memory"][1]
    assert bar._planned is not None and bar._planned[2] != RED and "fits" in bar.toolTip()
    assert "next run" in panel.gpu_meters[0].detail.text()
    big_model(session)
    plan = publish_plan(session, panel.latest)
    assert plan.peak_bytes > 10 * GiB  # a billion weights, Adam: weights, gradients, two moments
    assert panel.warning.isVisible()
    text = panel.warning.text()
    assert "cuda:0" in text and "4.0 GiB is free" in text and "bf16/fp16" in text
    assert bar._planned[2] == RED and "does NOT fit" in bar.toolTip()  # the bar shows the planned peak
    session.set_device("cpu")  # plenty of RAM? then no warning; else a RAM warning
    snapshot = step(panel)
    plan = publish_plan(session, snapshot)
    expected = plan.needed_bytes > snapshot.memory.total - snapshot.memory.used
    assert panel.warning.isVisible() == expected
    if expected:
        assert "on cpu" in panel.warning.text()
    assert bar._planned is None  # planned on the CPU: not on this GPU's bar


def test_no_gpu_and_a_cuda_device_chosen_says_why(make_panel, session):
    panel = make_panel(no_gpu(nvml.LIBRARY_NOT_FOUND))
    step(panel)
    session.set_device("cuda:0")
    assert panel.warning.isVisible()
    assert "cuda:0 is not available (the NVIDIA driver is not installed" in panel.warning.text()


def test_gpu_lost_mid_session(make_panel, session):
    backend = SimulatedNvml()
    panel = make_panel(backend)
    session.set_device("cuda:0")
    step(panel)
    backend.fail[(0, "utilization")] = nvml.GPU_IS_LOST
    step(panel)
    (gpu,) = panel.gpu_meters
    assert "lost" in gpu.detail.text() and gpu.value_text("memory") == "–"
    assert "(lost)" in panel.device_combo.itemText(panel.device_combo.findData("cuda:0"))
    assert panel.warning.isVisible() and "cannot be used" in panel.warning.text()
    assert session.gpu_free == {}


def test_trainer_memory_stands_in_when_nvml_does_not_list_us(make_panel):
    panel = make_panel(SimulatedNvml([SimulatedGpu(compute=[NvmlProcess(3_999_999, 5 * GiB)])]))
    panel.session.sampler.trainer.report("cuda:0", allocated=GiB, reserved=3 * GiB // 2, peak=2 * GiB)
    step(panel)
    rows = panel.processes.row_texts()
    assert rows[0][1:] == [str(PID), "▶ Workbench (this process)", "1.5 GiB (torch)"]
    assert rows[1][2] == "(not visible here)"
    assert "Workbench 1.5 GiB" in panel.gpu_meters[0].detail.text()


def test_history_plot_groups_and_ranges(make_panel):
    panel = make_panel(SimulatedNvml())
    for _ in range(3):
        step(panel)
    assert set(panel.plot.curves) == {"cpu", "ram", "gpu0.util"}
    panel.plot.refresh(panel.sampler.history, force=True)
    assert len(panel.plot.curves["gpu0.util"].xData) == 3  # every sample (the view may clip)
    assert "GPU 0 util <b>87</b>" in panel.plot.legend.text()
    panel.group_combo.setCurrentIndex(panel.group_combo.findData("GPU memory"))
    assert set(panel.plot.curves) == {"gpu0.memory_used"}  # not using the GPU: no "ours" line
    assert panel.plot.curves["gpu0.memory_used"].yData[-1] == pytest.approx(3.0)  # GiB
    panel.range_buttons.button(2).click()
    assert panel.plot.seconds == 3600
    x0, x1 = panel.plot.widget.viewRange()[0]
    assert x1 - x0 == pytest.approx(3600, rel=0.01)


def test_plot_redraws_only_when_a_pixel_of_time_has_passed(make_panel):
    panel = make_panel(no_gpu())
    history = panel.sampler.history
    panel.range_buttons.button(2).click()  # 1 h: a pixel is several seconds
    history.append_values(1000.0, {"cpu": 10.0})
    panel.plot.refresh(history)
    history.append_values(1001.0, {"cpu": 90.0})
    panel.plot.refresh(history)
    assert list(panel.plot.curves["cpu"].yData) == [10.0]  # not redrawn yet...
    assert "CPU <b>90</b>" in panel.plot.legend.text()  # ...but the figure is new
    history.append_values(1030.0, {"cpu": 50.0})
    panel.plot.refresh(history)
    assert list(panel.plot.curves["cpu"].yData) == [10.0, 90.0, 50.0]
    panel.range_buttons.button(0).click()  # 1 min: every sample is drawn
    history.append_values(1031.0, {"cpu": 40.0})
    panel.plot.refresh(history)
    assert list(panel.plot.curves["cpu"].yData) == [10.0, 90.0, 50.0, 40.0]


def test_hidden_panel_publishes_and_catches_up_when_shown(make_panel, session):
    panel = make_panel(SimulatedNvml())
    panel.hide()  # e.g. the Export tab is in front
    published = []
    session.sig_hardware.connect(published.append)
    snapshot = step(panel)
    assert published == [snapshot] and session.gpu_free == {"cuda:0": 21 * GiB}
    assert not panel.gpu_meters  # nothing drawn while hidden
    panel.show()
    assert panel.gpu_meters and panel.gpu_meters[0].value_text("util") == "87%"


def test_interval_picker_changes_the_sampler(make_panel):
    panel = make_panel(no_gpu())
    panel.interval_combo.setCurrentIndex(panel.interval_combo.findData(0.25))
    assert panel.sampler.interval == 0.25


def test_real_sampler_thread_updates_the_panel_and_stops(qtbot, session):
    panel = HardwarePanel(session)  # the real thing: psutil here, and NVML if there is a GPU
    qtbot.addWidget(panel)
    panel.show()
    try:
        with qtbot.waitSignal(panel.sig_snapshot_shown, timeout=5000) as blocker:
            pass
        snapshot = blocker.args[0]
        assert snapshot.process.pid == PID and panel.latest is snapshot
        job = panel.session.jobs.current("hardware")  # the session's sampling job, on its own thread
        assert job.thread.isRunning() and job.thread.objectName() == "wb-hardware"
        assert snapshot.disk.path == str(session.path.parent)  # (the user's copy of the sample)
        assert panel.no_gpu_note.isHidden() == bool(snapshot.gpus)
    finally:
        panel.shutdown()
    assert panel.session.jobs.current("hardware") is None


def test_screenshot_renders(qtbot, tmp_path):
    from workbench.ui.panels.hardware.screenshot import render

    paths = render(tmp_path)
    assert [p.name for p in paths] == ["hardware.png", "hardware-nogpu.png"]
    assert all(p.stat().st_size > 5000 for p in paths)
