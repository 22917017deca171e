"""GpuReader against a simulated NVML: devices, processes, and each error NVML can raise."""

import logging
import os

import pytest

from workbench.core.hardware import nvml
from workbench.core.hardware.gpu import RETRY_INIT_S, GpuReader, cuda_devices
from workbench.core.hardware.nvml import NvmlProcess
from workbench.core.hardware.simulated import GiB, SimulatedGpu, SimulatedNvml

PID = os.getpid()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def reader(backend, clock=None, environ=None):
    return GpuReader(
        backend, clock=clock or Clock(), environ=environ or {}, process_name=lambda pid: f"proc{pid}"
    )


def test_reads_every_field_in_user_units():
    backend = SimulatedNvml(
        [
            SimulatedGpu(
                compute=[NvmlProcess(PID, 2 * GiB), NvmlProcess(777, GiB)], graphics=[NvmlProcess(888, None)]
            )
        ]
    )
    gpus, error = reader(backend).read()
    assert error is None
    (gpu,) = gpus
    assert gpu.name == "NVIDIA GeForce RTX 4090" and gpu.device == "cuda:0" and gpu.index == 0
    assert gpu.memory_used == 3 * GiB and gpu.memory_total == 24 * GiB and gpu.memory_free == 21 * GiB
    assert gpu.memory_percent == pytest.approx(12.5)
    assert gpu.utilization == 87 and gpu.memory_utilization == 40
    assert gpu.temperature == 66 and gpu.sm_clock_mhz == 2520 and gpu.fan_percent == 45
    assert gpu.power_watts == pytest.approx(312.5)  # NVML says milliwatts
    assert gpu.power_limit_watts == pytest.approx(450.0)
    # ours first and marked; then by memory; WDDM's unknown memory stays None
    assert [(p.pid, p.ours, p.memory_used) for p in gpu.processes] == [
        (PID, True, 2 * GiB),
        (777, False, GiB),
        (888, False, None),
    ]
    assert gpu.processes[1].name == "proc777"
    assert gpu.our_memory == 2 * GiB


def test_process_in_both_lists_is_listed_once_with_its_memory():
    backend = SimulatedNvml([SimulatedGpu(compute=[NvmlProcess(5, None)], graphics=[NvmlProcess(5, GiB)])])
    (gpu,), _ = reader(backend).read()
    assert [(p.pid, p.memory_used) for p in gpu.processes] == [(5, GiB)]


@pytest.mark.parametrize(
    "code, words",
    [
        (nvml.LIBRARY_NOT_FOUND, "not installed"),
        (nvml.DRIVER_NOT_LOADED, "not loaded"),
        (nvml.NO_PERMISSION, "permission"),
        (nvml.UNKNOWN, "NVML error: Unknown Error"),
    ],
)
def test_init_failure_is_one_calm_reason(code, words, caplog):
    backend = SimulatedNvml()
    backend.fail["init"] = code
    clock = Clock()
    r = reader(backend, clock=clock)
    with caplog.at_level(logging.INFO, logger="workbench.core.hardware.gpu"):
        for _ in range(50):
            gpus, error = r.read()
            clock.now += 1.0
    assert gpus == () and words in error
    assert (
        len([rec for rec in caplog.records if words in rec.getMessage()]) == 1
    )  # said once, not every second
    assert not [rec for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert backend.calls["init"] == 2  # tried again after RETRY_INIT_S, not on every sample
    assert RETRY_INIT_S < 50


def test_driver_loaded_later_is_picked_up():
    backend = SimulatedNvml()
    backend.fail["init"] = nvml.DRIVER_NOT_LOADED
    clock = Clock()
    r = reader(backend, clock=clock)
    assert r.read()[0] == ()
    del backend.fail["init"]
    assert r.read()[0] == ()  # not asked again yet
    clock.now += RETRY_INIT_S + 1
    gpus, error = r.read()
    assert len(gpus) == 1 and error is None


def test_no_devices():
    gpus, error = reader(SimulatedNvml([])).read()
    assert gpus == () and error == "NVML found no NVIDIA GPU"


def test_not_supported_fields_are_none_and_not_asked_again():
    backend = SimulatedNvml([SimulatedGpu(fan=None)])
    backend.fail[(0, "power_usage_mw")] = nvml.NOT_SUPPORTED
    backend.fail[(0, "temperature")] = nvml.NO_PERMISSION
    r = reader(backend)
    for _ in range(3):
        (gpu,), error = r.read()
    assert error is None and gpu.error is None
    assert gpu.fan_percent is None and gpu.power_watts is None and gpu.temperature is None
    assert gpu.utilization == 87 and gpu.power_limit_watts == 450.0
    assert backend.calls[(0, "power_usage_mw")] == 1 and backend.calls[(0, "fan_percent")] == 1


def test_unknown_error_on_a_field_is_passing_and_logged_once(caplog):
    backend = SimulatedNvml()
    backend.fail[(0, "utilization")] = nvml.UNKNOWN
    r = reader(backend)
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            (gpu,), error = r.read()
    assert gpu.utilization is None and gpu.memory_used == 3 * GiB and error is None
    assert len([rec for rec in caplog.records if "utilization" in rec.getMessage()]) == 1
    del backend.fail[(0, "utilization")]
    (gpu,), _ = r.read()
    assert gpu.utilization == 87  # asked again: it was passing, not unsupported


def test_gpu_lost_mid_session_keeps_the_other_gpu():
    backend = SimulatedNvml([SimulatedGpu(), SimulatedGpu(name="NVIDIA A100")])
    r = reader(backend)
    gpus, error = r.read()
    assert [g.error for g in gpus] == [None, None]
    backend.fail[(0, "memory")] = nvml.GPU_IS_LOST
    for _ in range(3):
        gpus, error = r.read()
    assert (
        "lost" in gpus[0].error and gpus[0].memory_used is None and gpus[0].name == "NVIDIA GeForce RTX 4090"
    )
    assert gpus[1].error is None and gpus[1].memory_used == 3 * GiB
    assert error is None  # one GPU still answers
    assert backend.calls[(0, "memory")] == 2  # the lost GPU is not asked again


def test_only_gpu_lost_sets_the_reason():
    backend = SimulatedNvml()
    r = reader(backend)
    r.read()
    backend.fail[(0, "temperature")] = nvml.RESET_REQUIRED
    (gpu,), error = r.read()
    assert "reset" in gpu.error and error == gpu.error


def test_driver_unloaded_mid_session_returns_to_no_gpu_state():
    backend = SimulatedNvml()
    clock = Clock()
    r = reader(backend, clock=clock)
    assert r.read()[1] is None
    backend.fail[(0, "memory")] = nvml.UNINITIALIZED
    gpus, error = r.read()
    assert gpus == () and "stopped answering" in error
    del backend.fail[(0, "memory")]
    clock.now += RETRY_INIT_S + 1
    gpus, error = r.read()
    assert len(gpus) == 1 and error is None and backend.inits == 2


def test_close_shuts_nvml_down_once():
    backend = SimulatedNvml()
    r = reader(backend)
    r.read()
    r.close()
    r.close()
    assert backend.shutdowns == 1


@pytest.mark.parametrize(
    "visible, expected",
    [
        (None, ["cuda:0", "cuda:1", "cuda:2"]),
        ("2,0", ["cuda:1", None, "cuda:0"]),
        ("1", [None, "cuda:0", None]),
        ("GPU-bbb", [None, "cuda:0", None]),
        ("0,-1,2", ["cuda:0", None, None]),  # CUDA stops at the first invalid entry
        ("", [None, None, None]),
        ("7", [None, None, None]),
    ],
)
def test_cuda_device_names_follow_cuda_visible_devices(visible, expected):
    assert cuda_devices(["GPU-aaa1", "GPU-bbb2", "GPU-ccc3"], visible) == expected


def test_visible_devices_hide_gpus_from_the_picker():
    backend = SimulatedNvml([SimulatedGpu(uuid="GPU-a"), SimulatedGpu(uuid="GPU-b")])
    gpus, _ = reader(backend, environ={"CUDA_VISIBLE_DEVICES": "1"}).read()
    assert [g.device for g in gpus] == [None, "cuda:0"]
