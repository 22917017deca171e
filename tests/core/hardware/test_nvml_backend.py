"""NvmlBackend: translation of pynvml's errors and units, the TemperatureV fallback, the real library here."""

from types import SimpleNamespace

import pytest

from workbench.core.hardware import nvml
from workbench.core.hardware.gpu import GpuReader
from workbench.core.hardware.nvml import NvmlBackend, NvmlError


class FakePynvmlError(Exception):
    def __init__(self, value):
        super().__init__(f"code {value}")
        self.value = value


def fake_pynvml(**functions):
    return SimpleNamespace(NVMLError=FakePynvmlError, **functions)


def raises(code):
    def call(*_args):
        raise FakePynvmlError(code)

    return call


def test_errors_become_nvml_errors_with_the_code():
    backend = NvmlBackend(fake_pynvml(nvmlInit=raises(nvml.DRIVER_NOT_LOADED)))
    with pytest.raises(NvmlError) as info:
        backend.init()
    assert info.value.code == nvml.DRIVER_NOT_LOADED


def test_missing_function_in_an_old_binding_is_function_not_found():
    backend = NvmlBackend(fake_pynvml())
    with pytest.raises(NvmlError) as info:
        backend.fan_percent("h")
    assert info.value.code == nvml.FUNCTION_NOT_FOUND


def test_temperature_prefers_temperature_v():
    calls = []
    backend = NvmlBackend(
        fake_pynvml(
            nvmlDeviceGetTemperatureV=lambda h, s: calls.append("V") or 61,
            nvmlDeviceGetTemperature=lambda h, s: calls.append("old") or 60,
        )
    )
    assert backend.temperature("h") == 61 and backend.temperature("h") == 61
    assert calls == ["V", "V"]


@pytest.mark.parametrize("code", [nvml.FUNCTION_NOT_FOUND, nvml.ARGUMENT_VERSION_MISMATCH])
def test_temperature_falls_back_on_old_drivers_and_remembers(code):
    calls = []

    def v(h, s):
        calls.append("V")
        raise FakePynvmlError(code)

    backend = NvmlBackend(
        fake_pynvml(
            nvmlDeviceGetTemperatureV=v, nvmlDeviceGetTemperature=lambda h, s: calls.append("old") or 58
        )
    )
    assert backend.temperature("h") == 58 and backend.temperature("h") == 58
    assert calls == ["V", "old", "old"]


def test_temperature_v_failing_later_is_not_hidden():
    state = {"lost": False}

    def v(h, s):
        if state["lost"]:
            raise FakePynvmlError(nvml.GPU_IS_LOST)
        return 50

    backend = NvmlBackend(fake_pynvml(nvmlDeviceGetTemperatureV=v, nvmlDeviceGetTemperature=lambda h, s: 1))
    assert backend.temperature("h") == 50
    state["lost"] = True
    with pytest.raises(NvmlError) as info:
        backend.temperature("h")
    assert info.value.code == nvml.GPU_IS_LOST


def test_processes_keep_wddm_none_and_units():
    procs = [SimpleNamespace(pid=10, usedGpuMemory=123), SimpleNamespace(pid=11, usedGpuMemory=None)]
    backend = NvmlBackend(
        fake_pynvml(
            nvmlDeviceGetComputeRunningProcesses=lambda h: procs,
            nvmlDeviceGetPowerUsage=lambda h: 250_000,
            nvmlDeviceGetName=lambda h: b"Tesla T4",
        )
    )
    assert [(p.pid, p.used_memory) for p in backend.compute_processes("h")] == [(10, 123), (11, None)]
    assert backend.power_usage_mw("h") == 250_000 and backend.name("h") == "Tesla T4"


def test_real_nvml_on_this_machine_gives_gpus_or_a_reason():
    """Here (no NVIDIA driver) this is the calm 'not installed' state; on a GPU machine, real GPUs."""
    reader = GpuReader(NvmlBackend())
    gpus, error = reader.read()
    try:
        assert (gpus and error is None) or (gpus == () and isinstance(error, str) and error)
        assert all(g.memory_total and g.name for g in gpus)
    finally:
        reader.close()
