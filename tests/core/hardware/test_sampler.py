"""HardwareSampler on the real psutil path (this machine), with a simulated NVML for the GPU part."""

import itertools
import math
import os
import threading
import time

import psutil
import pytest

from workbench.core.errors import UserError
from workbench.core.hardware import HardwareSampler, History, nvml
from workbench.core.hardware.nvml import NvmlProcess
from workbench.core.hardware.simulated import GiB, SimulatedGpu, SimulatedNvml

CONTRACT_KEYS = {"time", "cpu", "memory", "process", "gpus", "gpu_error"}


def busy(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def no_gpu():
    backend = SimulatedNvml()
    backend.fail["init"] = nvml.LIBRARY_NOT_FOUND
    return backend


def test_real_psutil_snapshot(tmp_path):
    sampler = HardwareSampler(backend=no_gpu(), disk_path=tmp_path / "not" / "yet")
    busy(0.3)  # our first CPU figure must see this, not psutil's first 0.0
    s = sampler.sample()
    assert abs(s.time - time.time()) < 5
    assert s.cpu.count == psutil.cpu_count() == len(s.cpu.per_core)
    assert 0 <= s.cpu.percent <= 100 and all(0 <= p <= 100 for p in s.cpu.per_core)
    assert s.process.pid == os.getpid() and s.process.rss > 10 * 1024**2 and s.process.threads >= 1
    assert s.process.cpu_percent > 20, "psutil was not primed: the first process CPU figure is 0"
    assert 0 < s.memory.used < s.memory.total and 0 < s.memory.percent < 100
    assert s.memory.total == psutil.virtual_memory().total
    assert s.disk.path == str(tmp_path) and 0 < s.disk.free <= s.disk.total  # nearest existing folder
    assert s.gpus == () and "not installed" in s.gpu_error
    assert s.sample_ms > 0


def test_json_document_has_the_contract_shape():
    backend = SimulatedNvml([SimulatedGpu(compute=[NvmlProcess(os.getpid(), GiB)])])
    doc = HardwareSampler(backend=backend).sample().to_dict()
    assert doc.keys() >= CONTRACT_KEYS
    assert {"percent", "per_core"} <= doc["cpu"].keys()
    assert {"total", "used", "percent"} <= doc["memory"].keys()
    assert {"pid", "rss", "cpu_percent"} <= doc["process"].keys()
    (gpu,) = doc["gpus"]
    assert {
        "index",
        "name",
        "utilization",
        "memory_used",
        "memory_total",
        "temperature",
        "power_watts",
        "processes",
    } <= gpu.keys()
    assert gpu["power_watts"] == 312.5 and gpu["processes"][0] == {
        "pid": os.getpid(),
        "memory_used": GiB,
        "name": psutil.Process().name(),
        "ours": True,
        "source": "nvml",
    }
    assert doc["gpu_error"] is None


@pytest.mark.parametrize("bad", [0.1, 10.5, -1, "fast", float("nan")])
def test_interval_out_of_range_is_a_user_error(bad):
    with pytest.raises(UserError, match="between 0.25 and 10" if not isinstance(bad, str) else "number"):
        HardwareSampler(bad, backend=no_gpu())


def test_stream_samples_on_its_interval_records_and_halts_quickly():
    sampler = HardwareSampler(0.25, backend=SimulatedNvml())
    seen, halted = [], []

    def halt_later():
        time.sleep(1.5)
        halted.append(time.monotonic())
        sampler.halt()

    threading.Thread(target=halt_later, name="halter", daemon=True).start()
    for snapshot in sampler.stream():  # ends within one interval of halt()
        seen.append(snapshot)
    assert time.monotonic() - halted[0] < 0.5
    assert len(seen) >= 3 and sampler.gpus.backend.shutdowns == 1  # NVML released at the end
    assert len(sampler.history) == len(seen)
    gaps = [b.time - a.time for a, b in itertools.pairwise(seen)]
    assert all(0.15 < g < 1.0 for g in gaps), gaps


def test_changing_the_interval_takes_effect_at_once():
    sampler = HardwareSampler(10, backend=no_gpu())
    seen = []

    def consume():
        for snapshot in sampler.stream():
            seen.append(snapshot)

    consumer = threading.Thread(target=consume, name="consumer", daemon=True)
    consumer.start()
    try:
        time.sleep(0.3)
        assert len(seen) == 1  # the first sample comes at once, the next in 10 s...
        sampler.interval = 0.25  # ...unless the interval changes
        deadline = time.monotonic() + 3
        while len(seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(seen) >= 3
    finally:
        sampler.halt()
        consumer.join(2)


def test_our_torch_memory_fills_in_when_nvml_does_not_list_us():
    """In a container NVML lists the host's PIDs; torch's reserved bytes stand in for our figure."""
    backend = SimulatedNvml(
        [
            SimulatedGpu(compute=[NvmlProcess(4_000_123, 5 * GiB)]),
            SimulatedGpu(compute=[NvmlProcess(os.getpid(), None)]),
        ]
    )  # WDDM: None
    sampler = HardwareSampler(backend=backend, probe_torch=False)
    sampler.trainer.report("cuda:0", allocated=GiB, reserved=2 * GiB, peak=3 * GiB)
    sampler.trainer.report("cuda:1", allocated=GiB // 2, reserved=GiB)
    sampler.trainer.report("cpu", allocated=5, reserved=5)  # not a GPU: ignored
    g0, g1 = sampler.sample().gpus
    ours = g0.processes[0]
    assert ours.ours and ours.source == "torch" and ours.memory_used == 2 * GiB and ours.pid == os.getpid()
    assert g0.processes[1].pid == 4_000_123 and g0.torch.peak == 3 * GiB and g0.our_memory == 2 * GiB
    assert [(p.memory_used, p.source) for p in g1.processes] == [(GiB, "torch")]
    sampler.trainer.clear()
    assert sampler.sample().gpus[0].our_memory is None


def test_torch_probe_never_loads_torch():
    """In a fresh interpreter (in this one another test has loaded torch already): the probe answers without
    importing torch, and neither do the sampler's snapshots."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from workbench.core.hardware.torch_memory import probe_torch_memory\n"
        "from workbench.core.hardware import HardwareSampler\n"
        "assert probe_torch_memory() == {}\n"
        "HardwareSampler().sample()\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_history_rings_and_windows():
    history = History(capacity=5)
    for t in range(8):
        history.append_values(float(t), {"cpu": t * 10.0} if t < 6 else {"cpu": 60.0, "gpu0.util": 99.0})
    times, cols = history.window()
    assert list(times) == [3, 4, 5, 6, 7] and list(cols["cpu"]) == [30, 40, 50, 60, 60]
    assert math.isnan(cols["gpu0.util"][0]) and list(cols["gpu0.util"][-2:]) == [99, 99]
    times, cols = history.window(seconds=1.5, keys=["cpu", "nothing"])
    assert (
        list(times) == [6, 7]
        and list(cols["cpu"]) == [60, 60]
        and all(math.isnan(v) for v in cols["nothing"])
    )
    assert len(history) == 5 and history.last_time() == 7.0


def test_history_holds_an_hour_at_one_hertz():
    sampler = HardwareSampler(backend=no_gpu())
    assert sampler.history.capacity * 1.0 >= 3600
