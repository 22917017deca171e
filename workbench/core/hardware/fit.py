"""Will it fit? The traced peak of a training step (core/memory) against what each device has free, with the
headroom stated, and the largest batch size that fits (a search on the traced estimate, not a trial on the
device). The builder, the training settings, the hardware panel and `workbench model memory` all use this.

Headroom (what the trace cannot see):
- CUDA: CUDA_CONTEXT_BYTES for the CUDA context, cuBLAS / cuDNN workspaces and kernels loaded (not tensor
  storages, so invisible to MemTracker), plus ALLOCATOR_MARGIN of the peak: the caching allocator reserves whole
  blocks and segments (2 MiB / 20 MiB), so reserved bytes exceed the active bytes MemTracker predicts, and
  fragmentation adds to that (PyTorch's own tests hold the tracker within 10% of active bytes).
- CPU: ALLOCATOR_MARGIN of the peak (the process's other memory is already counted as used by the OS).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from workbench.core.errors import UserError
from workbench.core.hardware.snapshot import HardwareSnapshot
from workbench.core.units import MiB, bytes_text

CUDA_CONTEXT_BYTES = 512 * MiB  # context + cuBLAS/cuDNN workspaces: not tensors, so not in the trace
ALLOCATOR_MARGIN = 0.10  # caching-allocator blocks and fragmentation over the traced active bytes
MAX_BATCH_SEARCH = 1_000_000  # TrainingConfig's own limit on batch_size
MAX_TRACES = 20  # a bounded search: the curve is nearly affine, so it usually settles in 4-6 traces


def pick_device(device: str, gpus: Iterable[str]) -> str:
    """The device training on `device` runs on: "auto" -> the first visible GPU of `gpus` (in torch's order, as
    the trainer decides), else "cpu"; "cuda" -> "cuda:0"; anything else as given."""
    if device == "auto":
        return next(iter(gpus), None) or "cpu"
    return "cuda:0" if device == "cuda" else device


def resolve_device(device: str, snapshot: HardwareSnapshot | None) -> str:
    """`pick_device` over the snapshot's usable GPUs."""
    return pick_device(
        device, (g.device for g in (snapshot.gpus if snapshot else ()) if g.device and not g.error)
    )


def needed_bytes(peak: int, device: str) -> int:
    """The traced peak plus the headroom stated above."""
    need = math.ceil(peak * (1 + ALLOCATOR_MARGIN))
    return need + CUDA_CONTEXT_BYTES if device.startswith("cuda") else need


def available_bytes(device: str, snapshot: HardwareSnapshot | None) -> tuple[int | None, str]:
    """(bytes free for training on `device`, the device's name): a GPU's free memory (plus what our own trainer
    holds, ours to reuse), or the RAM the OS can hand out. Raises UserError for a GPU that is not here."""
    if device.startswith("cuda"):
        gpu = snapshot.gpu(device) if snapshot is not None else None
        if gpu is None:
            reason = (snapshot.gpu_error if snapshot else None) or "no such GPU here"
            raise UserError(f"{device} is not available ({reason}); use --device cpu or another GPU")
        if gpu.error:
            raise UserError(f"{device} ({gpu.name}) cannot be used: {gpu.error}")
        free = gpu.memory_free
        return (None if free is None else free + (gpu.our_memory or 0)), gpu.name
    if snapshot is not None:
        return snapshot.memory.total - snapshot.memory.used, "CPU"
    import psutil

    return int(psutil.virtual_memory().available), "CPU"


@dataclass(frozen=True)
class MemoryPlan:
    """A traced estimate placed on one device: the JSON of `workbench model memory --json` and of the GUI."""

    estimate: Any  # core.memory.MemoryEstimate
    device: str  # "cpu" | "cuda:i"
    device_name: str
    available_bytes: int | None  # None: the device does not say (a GPU whose memory NVML cannot read)
    needed_bytes: int  # peak + headroom
    fits: bool | None
    max_batch_size: int | None  # 0: not even one sample fits; None: not searched / unknown

    @property
    def peak_bytes(self) -> int:
        return int(self.estimate.peak_bytes)

    def to_dict(self) -> dict[str, Any]:
        doc = self.estimate.to_dict()
        doc["estimate_device"] = doc.pop("device")
        doc.update(
            device=self.device,
            device_name=self.device_name,
            available_bytes=self.available_bytes,
            needed_bytes=self.needed_bytes,
            headroom_bytes=self.needed_bytes - self.peak_bytes,
            fits=self.fits,
            max_batch_size=self.max_batch_size,
        )
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> MemoryPlan:
        from workbench.core.memory.estimate import MemoryEstimate

        doc = dict(doc)
        plan = {k: doc.pop(k) for k in ("device", "device_name", "available_bytes", "needed_bytes", "fits")}
        max_batch = doc.pop("max_batch_size")
        doc.pop("headroom_bytes", None)
        doc["device"] = doc.pop("estimate_device")
        return cls(estimate=MemoryEstimate.from_dict(doc), max_batch_size=max_batch, **plan)

    def advice(self) -> str | None:
        """One sentence when it will not fit: what would make it fit."""
        if self.fits is not False:
            return None
        est = self.estimate
        fixes = []
        if self.max_batch_size:
            fixes.append(f"a batch size of {self.max_batch_size} or less")
            if est.batch_size > self.max_batch_size:
                steps = math.ceil(est.batch_size / self.max_batch_size)
                fixes.append(
                    f"batch {self.max_batch_size} x {steps} accumulation steps (same effective batch)"
                )
        if self.device.startswith("cuda") and est.precision == "fp32":
            fixes.append("bf16/fp16 mixed precision")
        if not est.activation_checkpointing:
            fixes.append("activation checkpointing")
        if not fixes:
            fixes.append("a smaller model or another device")
        return (
            f"Training needs about {bytes_text(self.needed_bytes)} on {self.device} (peak "
            f"{bytes_text(self.peak_bytes)} + headroom), but {bytes_text(self.available_bytes)} is free: try "
            + ", or ".join(fixes)
        )


def plan_memory(
    spec: Any,
    config: Any,
    device: str = "auto",
    snapshot: HardwareSnapshot | None = None,
    task: str = "classification",
    input_dtype: str | None = None,
    search: bool = True,
) -> MemoryPlan:
    """Estimate a training step of `spec` with `config` on `device` (auto / cpu / cuda / cuda:i), compare it
    with what the device has free in `snapshot`, and (search=True) find the largest batch size that fits."""
    target = resolve_device(device, snapshot)
    if not re.fullmatch(r"cpu|cuda:\d+", target):
        raise UserError(f"unknown device '{device}'; use auto, cpu, cuda or cuda:<index>")
    available, name = available_bytes(target, snapshot)
    return plan_on(spec, config, target, available, name, task, input_dtype, search)


def plan_on(
    spec: Any,
    config: Any,
    target: str,
    available: int | None,
    device_name: str = "",
    task: str = "classification",
    input_dtype: str | None = None,
    search: bool = True,
    limit: int = MAX_BATCH_SEARCH,
) -> MemoryPlan:
    """`plan_memory` for a resolved device ("cpu" / "cuda:i") whose free bytes are known (or None); the search
    stops at `limit` (the training split's size, when the GUI knows it: a larger batch is the whole split)."""
    from workbench.core.memory import estimate_memory

    estimate = estimate_memory(spec, config, device=target, task=task, input_dtype=input_dtype)
    need = needed_bytes(estimate.peak_bytes, target)
    fits = None if available is None else need <= available
    best = None
    if search and available is not None:

        def peak_at(batch: int) -> int:
            return estimate_memory(
                spec, config, device=target, task=task, batch_size=batch, input_dtype=input_dtype
            ).peak_bytes

        best = max_batch_size(
            peak_at, lambda peak: needed_bytes(peak, target) <= available, max(1, limit), estimate.batch_size
        )
    return MemoryPlan(estimate, target, device_name or target, available, need, fits, best)


def memory_plan_job(control: Any, spec: dict, training: dict, **kwargs: Any):
    """The trainer-process job "memory" (core/jobs.py): `plan_on` for the GUI; yields the plan's dict."""
    from workbench.core.model.spec import ModelSpec
    from workbench.core.training.config import TrainingConfig

    yield plan_on(ModelSpec.model_validate(spec), TrainingConfig.model_validate(training), **kwargs).to_dict()


def max_batch_size(peak_at, fits, limit: int = MAX_BATCH_SEARCH, start: int = 2) -> int:
    """The largest batch b <= limit with fits(peak_at(b)), 0 when even 1 does not fit. The peak is nearly
    piecewise affine in the batch (weights and optimizer step at small batches, activations at large ones), so
    each next probe is where the line through the last two traces crosses the budget (a secant step, starting
    from 1 and `start`, the project's batch), kept inside the bracket of known fit / no-fit batches; every
    fourth probe bisects the bracket so a bent curve still converges (at most MAX_TRACES traces)."""
    budget = _largest_fitting_peak(fits)
    first = peak_at(1)
    if budget is None or first > budget:
        return 0
    low, high = 1, limit + 1  # low fits; high does not (limit + 1: never traced)
    points = [(1, first)]
    probe = max(2, min(start, limit))
    for trace in range(1, MAX_TRACES):
        if high - low <= 1:
            break
        probe = max(low + 1, min(high - 1, probe))
        peak = peak_at(probe)
        points.append((probe, peak))
        low, high = (probe, high) if peak <= budget else (low, probe)
        (b0, q0), (b1, q1) = points[-2], points[-1]
        if trace % 4 == 0 and high <= limit:
            probe = (low + high) // 2
        elif b1 != b0 and (q1 - q0) * (b1 - b0) > 0:
            probe = int(b1 + (budget - q1) * (b1 - b0) / (q1 - q0))
        else:
            probe = (low + high) // 2 if high <= limit else low * 2
    return low


def _largest_fitting_peak(fits) -> int | None:
    """The largest peak (bytes) that `fits` accepts; None when not even 0 does."""
    if not fits(0):
        return None
    lo, hi = 0, 1
    while fits(hi) and hi < 2**62:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def fit_warning(plan: MemoryPlan | None, device: str, snapshot: HardwareSnapshot | None) -> str | None:
    """A sentence when training on `device` will not fit (or cannot run there); None when it looks fine."""
    if snapshot is None:
        return None
    target = resolve_device(device, snapshot)
    if target.startswith("cuda"):
        gpu = snapshot.gpu(target)
        if gpu is None:
            reason = snapshot.gpu_error or "no such GPU here"
            return f"{target} is not available ({reason}): choose cpu or another device"
        if gpu.error:
            return f"{target} ({gpu.name}) cannot be used: {gpu.error}"
    if plan is None or plan.device != target:
        return None
    try:  # the plan's peak against what is free now
        available, _ = available_bytes(target, snapshot)
    except UserError as exc:
        return str(exc)
    if available is None:
        return None
    return replace(plan, available_bytes=available, fits=plan.needed_bytes <= available).advice()
