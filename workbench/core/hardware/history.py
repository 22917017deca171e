"""History: bounded ring buffers of the numbers worth plotting, one column per series, all on one time axis.

Appending is O(number of series) and allocation-free; reading a window returns copies in time order, so a
plot in another thread never sees a buffer being written. Missing values (a GPU that has no power reading,
a GPU that appeared later) are NaN, which pyqtgraph draws as gaps."""

from __future__ import annotations

import math
import threading

import numpy as np

from workbench.core.hardware.snapshot import HardwareSnapshot

HISTORY_SECONDS = 3600.0


def series_of(snapshot: HardwareSnapshot) -> dict[str, float]:
    """The plotted numbers of one snapshot. Keys: cpu, ram, swap, process_cpu, process_rss and for each GPU
    `gpu<i>.util`, `gpu<i>.memory` (percent), `gpu<i>.memory_used` (bytes), `gpu<i>.temperature`,
    `gpu<i>.power`, `gpu<i>.ours` (bytes of this process)."""
    values = {
        "cpu": snapshot.cpu.percent,
        "ram": snapshot.memory.percent,
        "swap": snapshot.memory.swap_percent,
        "process_cpu": snapshot.process.cpu_percent,
        "process_rss": float(snapshot.process.rss),
    }
    for gpu in snapshot.gpus:
        prefix = f"gpu{gpu.index}."
        values[prefix + "util"] = _num(gpu.utilization)
        values[prefix + "memory"] = _num(gpu.memory_percent)
        values[prefix + "memory_used"] = _num(gpu.memory_used)
        values[prefix + "temperature"] = _num(gpu.temperature)
        values[prefix + "power"] = _num(gpu.power_watts)
        values[prefix + "ours"] = _num(gpu.our_memory)
    return values


def _num(value) -> float:
    return math.nan if value is None else float(value)


class History:
    """The last `capacity` samples (default: an hour at the fastest interval, 0.25 s)."""

    def __init__(self, capacity: int = int(HISTORY_SECONDS / 0.25)):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._times = np.full(capacity, np.nan)
        self._columns: dict[str, np.ndarray] = {}
        self._next = 0  # where the next sample goes
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def append(self, snapshot: HardwareSnapshot) -> None:
        self.append_values(snapshot.time, series_of(snapshot))

    def append_values(self, time: float, values: dict[str, float]) -> None:
        with self._lock:
            slot = self._next
            self._times[slot] = time
            for key, column in self._columns.items():
                column[slot] = values.get(key, math.nan)
            for key in values.keys() - self._columns.keys():
                column = np.full(self.capacity, np.nan)
                column[slot] = values[key]
                self._columns[key] = column
            self._next = (slot + 1) % self.capacity
            self._count = min(self._count + 1, self.capacity)

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._columns)

    def last_time(self) -> float | None:
        with self._lock:
            return None if not self._count else float(self._times[(self._next - 1) % self.capacity])

    def window(
        self, seconds: float | None = None, keys: list[str] | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(times, {key: values}) of the samples in the last `seconds` before the newest one, oldest first."""
        with self._lock:
            order = self._order()
            times = self._times[order]
            wanted = self._columns.keys() if keys is None else keys
            columns = {
                k: (self._columns[k][order] if k in self._columns else np.full(len(order), np.nan))
                for k in wanted
            }
        if seconds is not None and len(times):
            start = int(np.searchsorted(times, times[-1] - seconds, side="left"))
            times = times[start:]
            columns = {k: v[start:] for k, v in columns.items()}
        return times, columns

    def _order(self) -> np.ndarray:
        if self._count < self.capacity:
            return np.arange(self._count)
        return (np.arange(self.capacity) + self._next) % self.capacity

    def clear(self) -> None:
        with self._lock:
            self._times[:] = np.nan
            self._columns.clear()
            self._next = self._count = 0
