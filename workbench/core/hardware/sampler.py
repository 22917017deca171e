"""HardwareSampler: a snapshot now (`sample()`), or one every `interval` seconds on a background thread
named `wb-hardware`, kept in a History and handed to listeners. Qt-free: the GUI wraps it, the CLI loops it."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
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
THREAD_NAME = "wb-hardware"


def check_interval(seconds: float) -> float:
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise UserError(f"the sampling interval must be a number of seconds, not {seconds!r}") from None
    if not MIN_INTERVAL_S <= value <= MAX_INTERVAL_S:
        raise UserError(f"the sampling interval must be between {MIN_INTERVAL_S} and {MAX_INTERVAL_S} seconds "
                        f"(got {value:g})")
    return value


class HardwareSampler:
    def __init__(self, interval: float = DEFAULT_INTERVAL_S, *, backend: NvmlBackend | None = None,
                 disk_path: str | os.PathLike | None = None, history: History | None = None,
                 probe_torch: bool = True):
        self._interval = check_interval(interval)
        self.system = SystemReader(disk_path)
        self.gpus = GpuReader(backend)
        self.history = history if history is not None else History()
        self.trainer = TrainerMemoryBoard()
        self._probe_torch = probe_torch
        self._listeners: list[Callable[[HardwareSnapshot], None]] = []
        self._lock = threading.Lock()   # one sample at a time (thread and callers of sample())
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures: set[str] = set()
        self.latest: HardwareSnapshot | None = None

    # -- settings -------------------------------------------------------------------------------------------------
    @property
    def interval(self) -> float:
        return self._interval

    @interval.setter
    def interval(self, seconds: float) -> None:
        self._interval = check_interval(seconds)
        self._wake.set()                # the running thread picks the new interval up now

    def set_disk_path(self, path: str | os.PathLike | None) -> None:
        self.system.disk_path = path

    def add_listener(self, callback: Callable[[HardwareSnapshot], None]) -> None:
        """`callback(snapshot)` after each background sample, on the sampler's thread."""
        self._listeners.append(callback)

    # -- sampling -------------------------------------------------------------------------------------------------
    def sample(self) -> HardwareSnapshot:
        """Take one snapshot now (CPU figures cover the time since the previous one) and record it."""
        with self._lock:
            start = time.perf_counter()
            cpu, memory, process, disk = self.system.read()
            gpus, gpu_error = self.gpus.read()
            snapshot = HardwareSnapshot(time=time.time(), cpu=cpu, memory=memory, process=process, disk=disk,
                                        gpus=gpus, gpu_error=gpu_error)
            torch_memory = {**self.trainer.current(), **(probe_torch_memory() if self._probe_torch else {})}
            snapshot = merge_torch_memory(snapshot, torch_memory, process.pid)
            snapshot = replace(snapshot, sample_ms=(time.perf_counter() - start) * 1000.0)
            self.history.append(snapshot)
            self.latest = snapshot
            return snapshot

    # -- background thread ----------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop the thread and release NVML; True when it ended within `timeout` seconds."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("the hardware sampler did not stop within %.1f s", timeout)
                return False
        if self._lock.acquire(timeout=timeout):
            try:
                self.gpus.close()
            finally:
                self._lock.release()
        return True

    def _run(self) -> None:
        next_at = None
        while not self._stop.is_set():
            try:
                snapshot = self.sample()
            except Exception as exc:    # noqa: BLE001 - a bad reading must not end monitoring
                self._log_once(exc, "hardware sample failed")
                snapshot = None
            if snapshot is not None and not self._stop.is_set():
                for callback in list(self._listeners):
                    try:
                        callback(snapshot)
                    except Exception as exc:    # noqa: BLE001 - a listener's bug must not stop the others
                        self._log_once(exc, "hardware listener failed")
            now = time.monotonic()
            next_at = now + self._interval if next_at is None else max(next_at + self._interval, now)
            self._wake.clear()
            self._wake.wait(max(next_at - time.monotonic(), 0.0))
            if self._wake.is_set():     # interval changed (or stopping): restart the clock
                next_at = None

    def _log_once(self, exc: Exception, what: str) -> None:
        """Each kind of failure once, with its traceback; not every second."""
        if repr(exc) not in self._failures:
            self._failures.add(repr(exc))
            log.error(what, exc_info=exc)
