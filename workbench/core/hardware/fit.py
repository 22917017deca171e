"""Will the model fit? The one check the builder and the hardware panel share: the model analysis's
training-memory estimate plus the CUDA context, against what the GPU training would use has available."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass

from workbench.core.hardware.snapshot import HardwareSnapshot
from workbench.core.units import MiB, bytes_text

CUDA_CONTEXT_BYTES = 512 * MiB  # what a CUDA context and cuDNN/cuBLAS workspaces take besides tensors


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


@dataclass(frozen=True)
class GpuFit:
    """Training `estimate` bytes on `device`, which has `available` bytes for it."""

    device: str
    estimate: int
    available: int

    @property
    def needed(self) -> int:
        return self.estimate + CUDA_CONTEXT_BYTES

    @property
    def fits(self) -> bool:
        return self.needed <= self.available


def gpu_fit(estimate: int, device: str, available: dict[str, int]) -> GpuFit | None:
    """Does training need more than the chosen GPU has? `available`: {"cuda:0": bytes, ...} in torch's order.
    None on the CPU or when the GPU's memory is unknown."""
    target = pick_device(device, available)
    if not target.startswith("cuda") or target not in available:
        return None
    return GpuFit(target, estimate, available[target])


def training_memory_estimate(project) -> int | None:
    """Bytes a training step of the project's model needs (weights, gradients, optimizer state, activations),
    from the model builder's analysis; None when the model is invalid or the analysis would have to load torch
    first (layers without shape rules are sized on torch's meta device; the GUI loads torch after start-up)."""
    try:
        from workbench.core.model.analysis import analyze
        from workbench.core.model.registry import get_layer_type

        if "torch" not in sys.modules and _needs_torch(project.model.layers, get_layer_type):
            return None
        training = project.training
        result = analyze(
            project.model,
            batch_size=training.batch_size,
            optimizer=training.optimizer,
            precision=training.precision,
        )
    except Exception:  # noqa: BLE001 - an estimate is advice: never let it break the monitor
        return None
    return result.training_bytes if result.ok and result.training_bytes else None


def _needs_torch(layers, get_layer_type) -> bool:
    for layer in layers:
        try:
            lt = get_layer_type(layer.type)
        except Exception:  # noqa: BLE001 - an unknown type: analyze reports it without torch
            continue
        if lt.shape is None or lt.count_params is None:
            return True
        if _needs_torch(getattr(layer, "layers", None) or (), get_layer_type):
            return True
    return False


def fit_warning(estimate: int | None, device: str, snapshot: HardwareSnapshot | None) -> str | None:
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
        if estimate is None or gpu.memory_free is None:
            return None
        # what our own trainer holds is ours to reuse
        fit = gpu_fit(estimate, target, {target: gpu.memory_free + (gpu.our_memory or 0)})
        if fit is not None and not fit.fits:
            return (
                f"The model needs about {bytes_text(estimate)} to train (plus ~"
                f"{bytes_text(CUDA_CONTEXT_BYTES, 0)} for CUDA), but {target} ({gpu.name}) has only "
                f"{bytes_text(fit.available)} free: lower the batch size, use bf16/fp16, or pick another device"
            )
        return None
    if estimate is not None:
        available = snapshot.memory.total - snapshot.memory.used
        if estimate > available:
            return (
                f"The model needs about {bytes_text(estimate)} to train, but only {bytes_text(available)} "
                "of RAM is free: lower the batch size or close other programs"
            )
    return None
