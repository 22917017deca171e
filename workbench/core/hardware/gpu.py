"""GpuReader: NVML -> GpuStats, calm about every way NVML fails.

- No library / no driver / no device: one reason in `error`, no GPUs, no exception and no log spam; NVML is
  tried again now and then (a driver loaded later is picked up) without repeating the message.
- A reading a GPU does not support (fan on a passive card, power on some boards): that field is None, and
  it is not asked again.
- A GPU lost or needing a reset mid-session: it stays in the list with `error` set; the others carry on.
- The driver unloaded mid-session (NVML uninitialized / driver not loaded): back to the "no GPU" state.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from workbench.core.hardware import nvml
from workbench.core.hardware.nvml import NvmlBackend, NvmlError
from workbench.core.hardware.snapshot import GpuProcess, GpuStats

log = logging.getLogger(__name__)

RETRY_INIT_S = 30.0  # how often to look again for a driver that was missing

_REASONS = {
    nvml.LIBRARY_NOT_FOUND: "the NVIDIA driver is not installed (NVML library not found)",
    nvml.DRIVER_NOT_LOADED: "the NVIDIA driver is not loaded (is `nvidia-smi` working?)",
    nvml.NO_PERMISSION: "no permission to query the GPU driver (NVML: insufficient permissions)",
    nvml.LIB_RM_VERSION_MISMATCH: "the NVIDIA driver and its library do not match; reboot after a driver update",
    nvml.UNINITIALIZED: "the NVIDIA driver stopped answering (NVML uninitialized)",
    nvml.GPU_IS_LOST: "the GPU is lost (fell off the bus); reset it or reboot",
    nvml.RESET_REQUIRED: "the GPU needs a reset; run `nvidia-smi -r` or reboot",
    nvml.GPU_NOT_FOUND: "the GPU is gone (removed or disabled)",
    nvml.TIMEOUT: "the GPU driver timed out",
}
_DEVICE_GONE = (nvml.GPU_IS_LOST, nvml.RESET_REQUIRED, nvml.GPU_NOT_FOUND)
_DRIVER_GONE = (nvml.UNINITIALIZED, nvml.DRIVER_NOT_LOADED, nvml.LIBRARY_NOT_FOUND)
_FIELD_ABSENT = (
    nvml.NOT_SUPPORTED,
    nvml.NO_PERMISSION,
    nvml.FUNCTION_NOT_FOUND,
    nvml.NOT_FOUND,
    nvml.DEPRECATED,
)


def describe(exc: NvmlError) -> str:
    """A reason a user can act on."""
    reason = _REASONS.get(exc.code)
    return reason if reason else f"NVML error: {exc}"


class _DriverGone(Exception):
    def __init__(self, exc: NvmlError):
        super().__init__(str(exc))
        self.nvml_error = exc


class GpuReader:
    def __init__(
        self,
        backend: NvmlBackend | None = None,
        clock: Callable[[], float] = time.monotonic,
        environ: Mapping[str, str] = os.environ,
        process_name: Callable[[int], str | None] | None = None,
    ):
        self.backend = backend if backend is not None else NvmlBackend()
        self._clock = clock
        self._visible = environ.get("CUDA_VISIBLE_DEVICES")
        self._process_name = process_name or _process_name
        self._pid = os.getpid()
        self._ready = False
        self._next_try = 0.0
        self.error: str | None = None
        self._handles: list = []
        self._names: list[str] = []
        self._uuids: list[str | None] = []
        self._devices: list[str | None] = []
        self._lost: dict[int, str] = {}
        self._absent: set[tuple[int, str]] = set()
        self._logged: set[str] = set()
        self._pid_names: dict[int, str | None] = {}

    # -- lifecycle
    # ---------------------------------------------------------------------------------------------
    def _start(self) -> None:
        if self._ready or self._clock() < self._next_try:
            return
        self._next_try = self._clock() + RETRY_INIT_S
        try:
            self.backend.init()
            count = self.backend.device_count()
            handles = [self.backend.handle(i) for i in range(count)]
            names = [self.backend.name(h) for h in handles]
            uuids = [self._optional(lambda h=h: self.backend.uuid(h)) for h in handles]
        except NvmlError as exc:
            self._set_error(describe(exc))
            return
        if not handles:
            self._set_error("NVML found no NVIDIA GPU")
            return
        self._handles, self._names, self._uuids = handles, names, uuids
        self._devices = cuda_devices(uuids, self._visible)
        self._lost.clear()
        self._absent.clear()
        self._ready = True
        self.error = None

    def _set_error(self, reason: str) -> None:
        if reason not in self._logged:  # each reason once per session, at info level: no GPU is normal
            self._logged.add(reason)
            log.info("No NVIDIA GPU: %s", reason)
        self.error = reason

    def close(self) -> None:
        if self._ready:
            self._ready = False
            with contextlib.suppress(NvmlError):
                self.backend.shutdown()

    # -- reading
    # -----------------------------------------------------------------------------------------------
    def read(self) -> tuple[tuple[GpuStats, ...], str | None]:
        """(GPUs, reason when none can be read)."""
        self._start()
        if not self._ready:
            return (), self.error
        try:
            gpus = tuple(self._read_device(i) for i in range(len(self._handles)))
        except _DriverGone as gone:
            self._ready = False
            self._next_try = self._clock() + RETRY_INIT_S
            self._set_error(describe(gone.nvml_error))
            return (), self.error
        working = [g for g in gpus if g.error is None]
        self.error = None if working else gpus[0].error
        return gpus, self.error

    def _read_device(self, i: int) -> GpuStats:
        base: dict[str, Any] = {
            "index": i,
            "name": self._names[i],
            "uuid": self._uuids[i],
            "device": self._devices[i],
        }
        if i in self._lost:
            return GpuStats(**base, error=self._lost[i])
        handle = self._handles[i]
        try:
            used, total = self._field(i, "memory", lambda: self.backend.memory(handle)) or (None, None)
            util, mem_util = self._field(i, "utilization", lambda: self.backend.utilization(handle)) or (
                None,
                None,
            )
            power = self._field(i, "power", lambda: self.backend.power_usage_mw(handle))
            limit = self._field(i, "power_limit", lambda: self.backend.power_limit_mw(handle))
            return GpuStats(
                **base,
                memory_used=used,
                memory_total=total,
                utilization=_f(util),
                memory_utilization=_f(mem_util),
                temperature=_f(self._field(i, "temperature", lambda: self.backend.temperature(handle))),
                power_watts=None if power is None else power / 1000.0,
                power_limit_watts=None if limit is None else limit / 1000.0,
                sm_clock_mhz=self._field(i, "sm_clock", lambda: self.backend.sm_clock_mhz(handle)),
                fan_percent=_f(self._field(i, "fan", lambda: self.backend.fan_percent(handle))),
                processes=self._processes(i, handle),
            )
        except NvmlError as exc:  # only device-gone errors get here
            self._lost[i] = describe(exc)
            self._set_error(f"GPU {i} ({self._names[i]}): {self._lost[i]}")
            return GpuStats(**base, error=self._lost[i])

    def _field(self, i: int, key: str, call):
        """One reading: None when unsupported (and never asked again) or on a passing error."""
        if (i, key) in self._absent:
            return None
        try:
            return call()
        except NvmlError as exc:
            if exc.code in _DRIVER_GONE:
                raise _DriverGone(exc) from exc
            if exc.code in _DEVICE_GONE:
                raise
            if exc.code in _FIELD_ABSENT:
                self._absent.add((i, key))
            elif f"{key}:{exc.code}" not in self._logged:
                self._logged.add(f"{key}:{exc.code}")
                log.warning("GPU %d: reading %s failed: %s", i, key, exc)
            return None

    def _optional(self, call):
        try:
            return call()
        except NvmlError as exc:
            if exc.code in _FIELD_ABSENT or exc.code == nvml.UNKNOWN:
                return None
            raise

    def _processes(self, i: int, handle) -> tuple[GpuProcess, ...]:
        found: dict[int, int | None] = {}
        for key, call in (
            ("compute", self.backend.compute_processes),
            ("graphics", self.backend.graphics_processes),
        ):
            for proc in self._field(i, key, lambda call=call: call(handle)) or ():
                if found.get(proc.pid) is None:
                    found[proc.pid] = proc.used_memory
        ours = {self._pid} | _children(self._pid) if found else set()  # the GUI's trainer process too
        procs = [
            GpuProcess(pid=pid, memory_used=mem, name=self._name_of(pid), ours=pid in ours)
            for pid, mem in found.items()
        ]
        procs.sort(key=lambda p: (not p.ours, -(p.memory_used or 0), p.pid))
        return tuple(procs)

    def _name_of(self, pid: int) -> str | None:
        if pid not in self._pid_names:
            if len(self._pid_names) > 512:
                self._pid_names.clear()
            self._pid_names[pid] = self._process_name(pid)
        return self._pid_names[pid]


def cuda_devices(uuids: list[str | None], visible: str | None) -> list[str | None]:
    """For each NVML GPU, the name torch gives it ("cuda:i") under CUDA_VISIBLE_DEVICES, or None when hidden.

    Without CUDA_VISIBLE_DEVICES the NVML order is assumed (true with CUDA_DEVICE_ORDER=PCI_BUS_ID, and on
    machines with one kind of GPU). The variable may list indices or UUID prefixes ("GPU-8f3a...")."""
    if visible is None:
        return [f"cuda:{i}" for i in range(len(uuids))]
    result: list[str | None] = [None] * len(uuids)
    for cuda_index, token in enumerate(t.strip() for t in visible.split(",")):
        if not token:
            break
        if token.lstrip("-").isdigit():
            nvml_index = int(token)
            if nvml_index < 0:
                break  # CUDA stops at the first invalid entry
        else:
            matches = [i for i, u in enumerate(uuids) if u and u.startswith(token)]
            if len(matches) != 1:
                break
            nvml_index = matches[0]
        if nvml_index >= len(uuids) or result[nvml_index] is not None:
            break
        result[nvml_index] = f"cuda:{cuda_index}"
    return result


def _children(pid: int) -> set[int]:
    import psutil

    try:
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        return set()


def _process_name(pid: int) -> str | None:
    import psutil

    try:
        return psutil.Process(pid).name()
    except (psutil.Error, OSError):
        return None


def _f(value) -> float | None:
    return None if value is None else float(value)
