"""The one door to NVML. Every call into `pynvml` (package nvidia-ml-py) is a method of NvmlBackend, which
returns NVML's raw values and units (milliwatts, bytes) and raises only NvmlError. Tests replace the whole
class with a fake that returns devices and processes and raises each error NVML can raise.

pynvml is imported on `init()`, never at module import: the GUI must not pay for it before it is needed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# NVML return codes (nvml.h); the values pynvml's NVMLError carries in `.value`.
UNINITIALIZED = 1
NOT_SUPPORTED = 3
NO_PERMISSION = 4
NOT_FOUND = 6
DRIVER_NOT_LOADED = 9
TIMEOUT = 10
LIBRARY_NOT_FOUND = 12
FUNCTION_NOT_FOUND = 13
GPU_IS_LOST = 15
RESET_REQUIRED = 16
LIB_RM_VERSION_MISMATCH = 18
ARGUMENT_VERSION_MISMATCH = 25
DEPRECATED = 26
GPU_NOT_FOUND = 28
UNKNOWN = 999

NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_SM = 1


class NvmlError(Exception):
    """An NVML failure: `code` is NVML's return code, the message NVML's own words."""

    def __init__(self, code: int, message: str = ""):
        super().__init__(message or f"NVML error {code}")
        self.code = code


@dataclass(frozen=True, slots=True)
class NvmlProcess:
    pid: int
    used_memory: int | None  # bytes; None under Windows WDDM


class NvmlBackend:
    """Thin wrapper over pynvml. Handles are opaque; units are NVML's (power in milliwatts)."""

    def __init__(self, module: Any = None):
        self._nvml = module  # a stand-in pynvml module (tests); imported on init() otherwise
        self._temperature_v: bool | None = None  # does nvmlDeviceGetTemperatureV work here?

    def _call(self, name: str, *args):
        try:
            return getattr(self._nvml, name)(*args)
        except AttributeError as exc:  # an old nvidia-ml-py without this function
            raise NvmlError(FUNCTION_NOT_FOUND, f"{name} is not in this nvidia-ml-py") from exc
        except self._nvml.NVMLError as exc:
            raise NvmlError(int(getattr(exc, "value", UNKNOWN)), str(exc)) from exc

    def init(self) -> None:
        if self._nvml is None:
            try:
                import pynvml
            except ImportError as exc:
                raise NvmlError(
                    LIBRARY_NOT_FOUND, "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
                ) from exc
            self._nvml = pynvml
        self._call("nvmlInit")

    def shutdown(self) -> None:
        if self._nvml is not None:
            self._call("nvmlShutdown")

    def driver_version(self) -> str:
        return _text(self._call("nvmlSystemGetDriverVersion"))

    def device_count(self) -> int:
        return int(self._call("nvmlDeviceGetCount"))

    def handle(self, index: int):
        return self._call("nvmlDeviceGetHandleByIndex", index)

    def name(self, handle) -> str:
        return _text(self._call("nvmlDeviceGetName", handle))

    def uuid(self, handle) -> str:
        return _text(self._call("nvmlDeviceGetUUID", handle))

    def memory(self, handle) -> tuple[int, int]:
        """(used, total) bytes."""
        info = self._call("nvmlDeviceGetMemoryInfo", handle)
        return int(info.used), int(info.total)

    def utilization(self, handle) -> tuple[int, int]:
        """(gpu, memory) percent over the driver's last sample period."""
        rates = self._call("nvmlDeviceGetUtilizationRates", handle)
        return int(rates.gpu), int(rates.memory)

    def temperature(self, handle) -> int:
        """GPU core degrees C: nvmlDeviceGetTemperatureV, falling back to the deprecated call on old drivers."""
        if self._temperature_v is not False:
            try:
                value = self._call("nvmlDeviceGetTemperatureV", handle, NVML_TEMPERATURE_GPU)
                self._temperature_v = True
                return int(value)
            except NvmlError as exc:
                if self._temperature_v or exc.code not in (
                    FUNCTION_NOT_FOUND,
                    ARGUMENT_VERSION_MISMATCH,
                    NOT_SUPPORTED,
                ):
                    raise
                self._temperature_v = False
        return int(self._call("nvmlDeviceGetTemperature", handle, NVML_TEMPERATURE_GPU))

    def power_usage_mw(self, handle) -> int:
        return int(self._call("nvmlDeviceGetPowerUsage", handle))

    def power_limit_mw(self, handle) -> int:
        return int(self._call("nvmlDeviceGetEnforcedPowerLimit", handle))

    def sm_clock_mhz(self, handle) -> int:
        return int(self._call("nvmlDeviceGetClockInfo", handle, NVML_CLOCK_SM))

    def fan_percent(self, handle) -> int:
        return int(self._call("nvmlDeviceGetFanSpeed", handle))

    def compute_processes(self, handle) -> list[NvmlProcess]:
        return [_process(p) for p in self._call("nvmlDeviceGetComputeRunningProcesses", handle)]

    def graphics_processes(self, handle) -> list[NvmlProcess]:
        return [_process(p) for p in self._call("nvmlDeviceGetGraphicsRunningProcesses", handle)]


def _process(info) -> NvmlProcess:
    used = getattr(info, "usedGpuMemory", None)
    return NvmlProcess(pid=int(info.pid), used_memory=None if used is None else int(used))


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
