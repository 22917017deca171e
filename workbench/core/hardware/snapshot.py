"""HardwareSnapshot: one moment of CPU, memory, our process, disk and NVIDIA GPUs, as small frozen records of
plain numbers (safe to hand to another thread, cheap to keep an hour of).

Units: bytes for memory, percent 0-100 (a process's CPU percent is of one core, so it can exceed 100), watts,
degrees Celsius, MHz. `None` means "not known here" (not supported by this GPU, no permission, WDDM)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True, slots=True)
class CpuStats:
    percent: float  # all cores, 0-100
    per_core: tuple[float, ...]
    frequency_mhz: float | None = None  # current, averaged over cores (None where the OS hides it)
    count: int = 0  # logical cores


@dataclass(frozen=True, slots=True)
class MemoryStats:
    total: int
    used: int  # total - available: what the OS cannot hand out right now
    percent: float
    swap_total: int = 0
    swap_used: int = 0
    swap_percent: float = 0.0


@dataclass(frozen=True, slots=True)
class ProcessStats:
    """Workbench: this process and its children (the GUI's trainer process) together."""

    pid: int
    rss: int
    cpu_percent: float  # of one core: 250 means two and a half cores busy
    threads: int = 0


@dataclass(frozen=True, slots=True)
class DiskStats:
    path: str
    free: int
    total: int


@dataclass(frozen=True, slots=True)
class GpuProcess:
    pid: int
    memory_used: int | None  # None: the driver does not say (Windows WDDM)
    name: str | None = None  # None: the PID is not visible here (a container sees the host's PIDs)
    ours: bool = False  # this Workbench process (our trainer)
    source: str = "nvml"  # "nvml", or "torch" when NVML does not list us and torch.cuda told us


@dataclass(frozen=True, slots=True)
class TorchMemory:
    """This process's torch.cuda caching allocator on one device (what our trainer holds)."""

    allocated: int
    reserved: int
    peak: int | None = None


@dataclass(frozen=True, slots=True)
class GpuStats:
    index: int  # NVML index (nvidia-smi's numbering)
    name: str
    memory_used: int | None = None
    memory_total: int | None = None
    utilization: float | None = None  # percent of time a kernel ran over the last sample period
    memory_utilization: float | None = None
    temperature: float | None = None  # Celsius
    power_watts: float | None = None
    power_limit_watts: float | None = None
    sm_clock_mhz: int | None = None
    fan_percent: float | None = None  # None on passively cooled cards (data-centre GPUs)
    uuid: str | None = None
    device: str | None = None  # "cuda:i" as torch numbers it here; None when CUDA_VISIBLE_DEVICES hides it
    processes: tuple[GpuProcess, ...] = ()
    torch: TorchMemory | None = None  # our own torch.cuda figures on this GPU, when we use it
    error: str | None = None  # set when this GPU stopped answering (lost, reset required)

    @property
    def memory_free(self) -> int | None:
        if self.memory_used is None or self.memory_total is None:
            return None
        return max(self.memory_total - self.memory_used, 0)

    @property
    def memory_percent(self) -> float | None:
        if not self.memory_total or self.memory_used is None:
            return None
        return 100.0 * self.memory_used / self.memory_total

    @property
    def our_memory(self) -> int | None:
        """GPU memory of this process: NVML's figure, else what torch.cuda reserved."""
        for proc in self.processes:
            if proc.ours and proc.memory_used is not None:
                return proc.memory_used
        return self.torch.reserved if self.torch else None


@dataclass(frozen=True, slots=True)
class HardwareSnapshot:
    time: float  # unix time
    cpu: CpuStats
    memory: MemoryStats
    process: ProcessStats
    disk: DiskStats | None = None
    gpus: tuple[GpuStats, ...] = ()
    gpu_error: str | None = None  # why no GPU can be read ("NVIDIA driver is not loaded", ...)
    sample_ms: float = 0.0  # what taking this snapshot cost

    def gpu(self, device: str) -> GpuStats | None:
        """The GPU torch calls `device` ("cuda:0"; "cuda" means cuda:0), or None."""
        device = "cuda:0" if device == "cuda" else device
        return next((g for g in self.gpus if g.device == device), None)

    def gpu_free(self) -> dict[str, int]:
        """{"cuda:0": free bytes, ...} for the GPUs torch can use: what `session.set_gpu_free` takes."""
        return {g.device: g.memory_free for g in self.gpus if g.device and g.memory_free is not None}

    def with_gpus(self, gpus: tuple[GpuStats, ...]) -> HardwareSnapshot:
        return replace(self, gpus=tuple(gpus))

    def to_dict(self) -> dict:
        """The `workbench monitor --json` document of docs/contract.md (plus extra keys)."""
        return {
            "time": self.time,
            "cpu": asdict(self.cpu),
            "memory": asdict(self.memory),
            "process": asdict(self.process),
            "disk": asdict(self.disk) if self.disk else None,
            "gpus": [_gpu_dict(g) for g in self.gpus],
            "gpu_error": self.gpu_error,
            "sample_ms": round(self.sample_ms, 3),
        }


def _gpu_dict(gpu: GpuStats) -> dict:
    doc = asdict(gpu)
    doc["memory_free"] = gpu.memory_free
    doc["processes"] = [asdict(p) for p in gpu.processes]
    return doc
