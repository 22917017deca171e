"""SimulatedNvml: an NvmlBackend stand-in that serves made-up GPUs and processes and raises any NVML error
on demand. Tests drive the GPU code with it; `python -m workbench.ui.panels.hardware --simulate-gpu` and the
screenshots use it to show the GPU views on a machine without one."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from workbench.core.hardware import nvml
from workbench.core.hardware.nvml import NvmlError, NvmlProcess
from workbench.core.units import GiB

MESSAGES = {
    nvml.LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    nvml.DRIVER_NOT_LOADED: "Driver Not Loaded",
    nvml.GPU_IS_LOST: "GPU is lost",
    nvml.NOT_SUPPORTED: "Not Supported",
    nvml.UNKNOWN: "Unknown Error",
    nvml.NO_PERMISSION: "Insufficient Permissions",
    nvml.UNINITIALIZED: "Uninitialized",
    nvml.RESET_REQUIRED: "GPU requires restart",
    nvml.FUNCTION_NOT_FOUND: "Function Not Found",
}


@dataclass
class SimulatedGpu:
    name: str = "NVIDIA GeForce RTX 4090"
    uuid: str = "GPU-5d1c2f3e-0000-4000-8000-000000000000"
    used: int = 3 * GiB
    total: int = 24 * GiB
    util: int = 87
    mem_util: int = 40
    temperature: int = 66
    power_mw: int = 312_500
    limit_mw: int = 450_000
    sm_clock: int = 2520
    fan: int | None = 45  # None: no fan (NVML says Not Supported)
    compute: list[NvmlProcess] = field(default_factory=list)
    graphics: list[NvmlProcess] = field(default_factory=list)


class SimulatedNvml:
    """Same methods as NvmlBackend. `fail[key] = code` makes a call raise NvmlError(code): key "init",
    "count", or (gpu index, method name), e.g. `fail[(0, "temperature")] = nvml.NOT_SUPPORTED`.
    `animate=True` makes utilization, memory, temperature and power wander like a training job's."""

    def __init__(self, gpus: list[SimulatedGpu] | None = None, animate: bool = False):
        self.gpus = gpus if gpus is not None else [SimulatedGpu()]
        self.animate = animate
        self.fail: dict = {}
        self.calls: dict = {}
        self.inits = 0
        self.shutdowns = 0
        self._t0 = time.monotonic()

    def _check(self, key) -> None:
        self.calls[key] = self.calls.get(key, 0) + 1
        code = self.fail.get(key)
        if code is not None:
            raise NvmlError(code, MESSAGES.get(code, f"NVML error {code}"))

    def _gpu(self, handle: int, method: str) -> SimulatedGpu:
        self._check((handle, method))
        return self.gpus[handle]

    def _wave(self, handle: int, period: float) -> float:
        """0..1, smooth, different per GPU; 0.5 when not animated."""
        if not self.animate:
            return 0.5
        t = time.monotonic() - self._t0
        return (
            0.5 + 0.35 * math.sin(t * 2 * math.pi / period + handle) + 0.15 * math.sin(t * 0.17 + 2 * handle)
        )

    def init(self) -> None:
        self._check("init")
        self.inits += 1

    def shutdown(self) -> None:
        self.shutdowns += 1

    def driver_version(self) -> str:
        return "550.54.15"

    def device_count(self) -> int:
        self._check("count")
        return len(self.gpus)

    def handle(self, index: int) -> int:
        return index

    def name(self, h) -> str:
        return self._gpu(h, "name").name

    def uuid(self, h) -> str:
        return self._gpu(h, "uuid").uuid

    def memory(self, h) -> tuple[int, int]:
        g = self._gpu(h, "memory")
        if not self.animate:
            return g.used, g.total
        return min(int(g.used + 0.4 * g.total * self._wave(h, 300)), int(0.97 * g.total)), g.total

    def utilization(self, h) -> tuple[int, int]:
        g = self._gpu(h, "utilization")
        if not self.animate:
            return g.util, g.mem_util
        return int(100 * self._wave(h, 70)), int(60 * self._wave(h, 80))

    def temperature(self, h) -> int:
        g = self._gpu(h, "temperature")
        return g.temperature if not self.animate else int(45 + 35 * self._wave(h, 240))

    def power_usage_mw(self, h) -> int:
        g = self._gpu(h, "power_usage_mw")
        return g.power_mw if not self.animate else int(g.limit_mw * (0.2 + 0.75 * self._wave(h, 70)))

    def power_limit_mw(self, h) -> int:
        return self._gpu(h, "power_limit_mw").limit_mw

    def sm_clock_mhz(self, h) -> int:
        return self._gpu(h, "sm_clock_mhz").sm_clock

    def fan_percent(self, h) -> int:
        fan = self._gpu(h, "fan_percent").fan
        if fan is None:
            raise NvmlError(nvml.NOT_SUPPORTED, MESSAGES[nvml.NOT_SUPPORTED])
        return fan

    def compute_processes(self, h) -> list[NvmlProcess]:
        return list(self._gpu(h, "compute_processes").compute)

    def graphics_processes(self, h) -> list[NvmlProcess]:
        return list(self._gpu(h, "graphics_processes").graphics)


def demo_gpus(our_pid: int) -> list[SimulatedGpu]:
    """Two GPUs as on a shared workstation: ours training on GPU 0, someone else's job on GPU 1, a PID from
    outside the container and a Windows-style unknown figure."""
    return [
        SimulatedGpu(
            name="NVIDIA GeForce RTX 4090",
            used=6 * GiB,
            compute=[NvmlProcess(our_pid, 5 * GiB), NvmlProcess(48213, 900 * 1024**2)],
        ),
        SimulatedGpu(
            name="NVIDIA RTX A6000",
            uuid="GPU-9a8b7c6d-0000-4000-8000-000000000001",
            used=30 * GiB,
            total=48 * GiB,
            limit_mw=300_000,
            fan=None,
            compute=[NvmlProcess(3_917_004, 29 * GiB)],
            graphics=[NvmlProcess(2211, None)],
        ),
    ]
