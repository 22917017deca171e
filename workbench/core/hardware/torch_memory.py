"""Our own GPU memory, from torch.cuda: what the trainer allocated, reserved and peaked at on each device.

NVML may not know which process is ours (PIDs of the host in a container, None on Windows WDDM); torch does.
Two ways in, both Qt-free:
- `probe_torch_memory()` reads this process's caching allocator. It never imports torch or creates a CUDA
  context: it answers only when torch is loaded and CUDA already initialised (by the trainer).
- `TrainerMemoryBoard` keeps the latest figures reported by a trainer's events (BatchEnd.cuda_allocated, ...),
  e.g. a run in another process whose events we read; the sampler merges them like the probe's.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import replace

from workbench.core.hardware.snapshot import GpuProcess, GpuStats, HardwareSnapshot, TorchMemory

STALE_AFTER_S = 30.0  # a trainer that stopped reporting no longer holds the memory


def probe_torch_memory() -> dict[str, TorchMemory]:
    """{"cuda:0": TorchMemory, ...} for the devices this process's torch has touched; {} otherwise."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    if cuda is None or not cuda.is_initialized():
        return {}
    found = {}
    for i in range(cuda.device_count()):
        reserved = int(cuda.memory_reserved(i))
        if reserved:
            found[f"cuda:{i}"] = TorchMemory(
                allocated=int(cuda.memory_allocated(i)),
                reserved=reserved,
                peak=int(cuda.max_memory_allocated(i)),
            )
    return found


class TrainerMemoryBoard:
    """The latest torch.cuda figures a trainer reported per device (thread-safe; entries go stale)."""

    def __init__(self, stale_after: float = STALE_AFTER_S):
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, TorchMemory]] = {}
        self._stale_after = stale_after

    def report(
        self, device: str, allocated: int | None, reserved: int | None, peak: int | None = None
    ) -> None:
        if not device.startswith("cuda") or allocated is None:
            return
        device = "cuda:0" if device == "cuda" else device
        memory = TorchMemory(
            allocated=int(allocated),
            reserved=int(reserved if reserved is not None else allocated),
            peak=None if peak is None else int(peak),
        )
        with self._lock:
            self._entries[device] = (time.monotonic(), memory)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def current(self) -> dict[str, TorchMemory]:
        now = time.monotonic()
        with self._lock:
            return {d: m for d, (t, m) in self._entries.items() if now - t <= self._stale_after}


def merge_torch_memory(
    snapshot: HardwareSnapshot, memory: dict[str, TorchMemory], pid: int
) -> HardwareSnapshot:
    """Attach our torch figures to each GPU; where NVML did not list our process, or gave no figure for it
    (WDDM, container PIDs), add or fill our entry from torch's reserved bytes so ours is never unknown."""
    if not memory or not snapshot.gpus:
        return snapshot
    return snapshot.with_gpus(tuple(_merge_gpu(g, memory.get(g.device or ""), pid) for g in snapshot.gpus))


def _merge_gpu(gpu: GpuStats, memory: TorchMemory | None, pid: int) -> GpuStats:
    if memory is None or gpu.error:
        return gpu
    procs = list(gpu.processes)
    ours = next((i for i, p in enumerate(procs) if p.ours), None)
    if ours is None:
        procs.insert(
            0,
            GpuProcess(
                pid=pid,
                memory_used=memory.reserved,
                name="workbench (this process)",
                ours=True,
                source="torch",
            ),
        )
    elif procs[ours].memory_used is None:
        procs[ours] = replace(procs[ours], memory_used=memory.reserved, source="torch")
    return replace(gpu, torch=memory, processes=tuple(procs))
