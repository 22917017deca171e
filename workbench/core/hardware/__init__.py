"""CPU, RAM and NVIDIA GPU snapshots and a background sampler (Qt-free).

sampler = HardwareSampler(interval=1.0)     # psutil + NVML (through NvmlBackend, the one NVML door)
snapshot = sampler.sample()                 # a HardwareSnapshot: frozen numbers, `to_dict()` for JSON
for snapshot in sampler.stream(): ...        # one every `interval` s until sampler.halt() (a GUI job)
times, series = sampler.history.window(600, ["cpu", "gpu0.memory"])   # the last 10 minutes
"""

from workbench.core.hardware.history import History, series_of
from workbench.core.hardware.nvml import NvmlBackend, NvmlError
from workbench.core.hardware.sampler import (
    DEFAULT_INTERVAL_S,
    MAX_INTERVAL_S,
    MIN_INTERVAL_S,
    HardwareSampler,
    check_interval,
)
from workbench.core.hardware.snapshot import (
    CpuStats,
    DiskStats,
    GpuProcess,
    GpuStats,
    HardwareSnapshot,
    MemoryStats,
    ProcessStats,
    TorchMemory,
)

__all__ = [
    "DEFAULT_INTERVAL_S",
    "MAX_INTERVAL_S",
    "MIN_INTERVAL_S",
    "CpuStats",
    "DiskStats",
    "GpuProcess",
    "GpuStats",
    "HardwareSampler",
    "HardwareSnapshot",
    "History",
    "MemoryStats",
    "NvmlBackend",
    "NvmlError",
    "ProcessStats",
    "TorchMemory",
    "check_interval",
    "series_of",
]
