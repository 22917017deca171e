"""SystemReader: CPU, memory, swap, this process and free disk through psutil.

psutil's `cpu_percent(None)` measures since the previous call, so the first call says 0.0: the reader primes
every counter when it is made and waits out a first period (`first_period_s`, at least MIN_FIRST_PERIOD_S)
before its first reading. `workbench monitor` sets it to its interval, so every line, the first too, covers
one interval."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil

from workbench.core.hardware.snapshot import CpuStats, DiskStats, MemoryStats, ProcessStats

MIN_FIRST_PERIOD_S = 0.1  # a CPU percent over less than this is noise


class SystemReader:
    def __init__(self, disk_path: str | os.PathLike | None = None):
        self._process = psutil.Process()
        self._children: dict[int, psutil.Process] = {}
        self._count = psutil.cpu_count() or 1
        self.disk_path = disk_path
        self.first_period_s = MIN_FIRST_PERIOD_S
        self._primed_at = self._prime()

    def _prime(self) -> float:
        psutil.cpu_percent(None, percpu=True)
        psutil.cpu_percent(None)
        self._process.cpu_percent(None)
        return time.monotonic()

    @property
    def disk_path(self) -> str:
        return self._disk_path

    @disk_path.setter
    def disk_path(self, path: str | os.PathLike | None) -> None:
        """The folder whose free space is reported (the project's); its nearest existing parent is used."""
        p = Path(path).expanduser() if path else Path.cwd()
        while not p.exists() and p.parent != p:
            p = p.parent
        self._disk_path = str(p)

    def read(self) -> tuple[CpuStats, MemoryStats, ProcessStats, DiskStats | None]:
        wait = max(self.first_period_s, MIN_FIRST_PERIOD_S) - (time.monotonic() - self._primed_at)
        if self._primed_at and wait > 0:
            time.sleep(wait)
        self._primed_at = 0.0
        per_core = tuple(psutil.cpu_percent(None, percpu=True))
        total = psutil.cpu_percent(None)
        cpu = CpuStats(percent=total, per_core=per_core, frequency_mhz=_frequency(), count=self._count)
        vm = psutil.virtual_memory()
        swap = psutil.swap_memory()
        memory = MemoryStats(
            total=vm.total,
            used=vm.total - vm.available,
            percent=vm.percent,
            swap_total=swap.total,
            swap_used=swap.used,
            swap_percent=swap.percent,
        )
        return cpu, memory, self._workbench(), self._disk()

    def _workbench(self) -> ProcessStats:
        """This process and its children (the GUI's trainer process): what Workbench uses."""
        rss = cpu = threads = 0
        alive = {}
        for proc in [self._process, *self._process.children(recursive=True)]:
            proc = self._children.get(
                proc.pid, proc
            )  # the same object: cpu_percent measures since its last call
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    cpu += proc.cpu_percent(None)
                    threads += proc.num_threads()
            except psutil.Error:
                continue
            alive[proc.pid] = proc
        self._children = alive
        return ProcessStats(pid=self._process.pid, rss=rss, cpu_percent=cpu, threads=threads)

    def _disk(self) -> DiskStats | None:
        try:
            usage = psutil.disk_usage(self._disk_path)
        except OSError:
            return None
        return DiskStats(path=self._disk_path, free=usage.free, total=usage.total)


def _frequency() -> float | None:
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError, RuntimeError):
        return None
    return float(freq.current) if freq and freq.current else None
