"""HardwareSampler: a snapshot now (`sample()`), or one every `interval` seconds from `stream()`, kept in a
History. Qt-free: the GUI runs `stream()` as a background job (workbench.ui.jobs, thread `wb-hardware`), the CLI
loops `sample()`."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

from workbench.core.errors import UserError
from workbench.core.hardware.gpu import GpuReader
from workbench.core.hardware.history import History
from workbench.core.hardware.nvml import NvmlBackend
from workbench.core.hardware.snapshot import HardwareSnapshot
from workbench.core.hardware.system import SystemReader
from workbench.core.hardware.torch_memory import TrainerMemoryBoard, merge_torch_memory, probe_torch_memory

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 0.25
MAX_INTERVAL_S = 10.0
DEFAULT_INTERVAL_S = 1.0


def check_interval(seconds: float) -> float:
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise UserError(f"the sampling interval must be a number of seconds, not {seconds!r}") from None
    if not MIN_INTERVAL_S <= value <= MAX_INTERVAL_S:
        raise UserError(
            f"the sampling interval must be between {MIN_INTERVAL_S} and {MAX_INTERVAL_S} seconds "
            f"(got {value:g})"
        )
    return value


class HardwareSampler:
    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL_S,
        *,
        backend: NvmlBackend | None = None,
        disk_path: str | os.PathLike | None = None,
        history: History | None = None,
        probe_torch: bool = True,
    ):
        self._interval = check_interval(interval)
        self.system = SystemReader(disk_path)
        self.gpus = GpuReader(backend)
        self.history = history if history is not None else History()
        self.trainer = TrainerMemoryBoard()
        self._probe_torch = probe_torch
        self._lock = threading.Lock()  # one sample at a time (thread and callers of sample())
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._failures: set[str] = set()
        self.latest: HardwareSnapshot | None = None

    # -- settings
    # -------------------------------------------------------------------------------------------------
    @property
    def interval(self) -> float:
        return self._interval

    @interval.setter
    def interval(self, seconds: float) -> None:
        self._interval = check_interval(seconds)
        self._wake.set()  # a running stream picks the new interval up now

    def set_disk_path(self, path: str | os.PathLike | None) -> None:
        self.system.disk_path = path

    # -- sampling
    # -------------------------------------------------------------------------------------------------
    def sample(self) -> HardwareSnapshot:
        """Take one snapshot now (CPU figures cover the time since the previous one) and record it."""
        with self._lock:
            start = time.perf_counter()
            cpu, memory, process, disk = self.system.read()
            gpus, gpu_error = self.gpus.read()
            snapshot = HardwareSnapshot(
                time=time.time(),
                cpu=cpu,
                memory=memory,
                process=process,
                disk=disk,
                gpus=gpus,
                gpu_error=gpu_error,
            )
            torch_memory = {**self.trainer.current(), **(probe_torch_memory() if self._probe_torch else {})}
            snapshot = merge_torch_memory(snapshot, torch_memory, process.pid)
            snapshot = replace(snapshot, sample_ms=(time.perf_counter() - start) * 1000.0)
            self.history.append(snapshot)
            self.latest = snapshot
            return snapshot

    # -- a stream for a background job
    # ----------------------------------------------------------------------------
    def stream(self) -> Iterator[HardwareSnapshot]:
        """A snapshot every `interval` seconds until `halt()`; NVML is released when the stream ends."""
        self._stop.clear()
        next_at = None
        try:
            while not self._stop.is_set():
                try:
                    snapshot = self.sample()
                except Exception as exc:  # noqa: BLE001 - a bad reading must not end monitoring
                    self._log_once(exc, "hardware sample failed")
                    snapshot = None
                if snapshot is not None and not self._stop.is_set():
                    yield snapshot
                now = time.monotonic()
                next_at = now + self._interval if next_at is None else max(next_at + self._interval, now)
                self._wake.clear()
                self._wake.wait(max(next_at - time.monotonic(), 0.0))
                if self._wake.is_set():  # interval changed (or stopping): restart the clock
                    next_at = None
        finally:
            self.release()

    def halt(self) -> None:
        """End `stream()` at its next wait (from any thread)."""
        self._stop.set()
        self._wake.set()

    def release(self, timeout: float = 2.0) -> None:
        """Release NVML (after the last sample)."""
        if self._lock.acquire(timeout=timeout):
            try:
                self.gpus.close()
            finally:
                self._lock.release()

    def stop(self) -> None:
        """Halt a stream and release NVML (the CLI's `monitor` calls this when it ends)."""
        self.halt()
        self.release()

    def _log_once(self, exc: Exception, what: str) -> None:
        """Each kind of failure once, with its traceback; not every second."""
        if repr(exc) not in self._failures:
            self._failures.add(repr(exc))
            log.error(what, exc_info=exc)
