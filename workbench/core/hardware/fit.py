"""Will the model fit? The builder's training-memory estimate against the chosen device's free memory."""

from __future__ import annotations

import sys

from workbench.core.hardware.snapshot import HardwareSnapshot, format_bytes

CUDA_CONTEXT_BYTES = 512 * 1024**2       # what a CUDA context and cuDNN/cuBLAS workspaces take besides tensors


def resolve_device(device: str, snapshot: HardwareSnapshot | None) -> str:
    """"auto" -> the first visible GPU, else "cpu" (as the trainer decides); "cuda" -> "cuda:0"."""
    if device == "auto":
        first = next((g.device for g in (snapshot.gpus if snapshot else ()) if g.device and not g.error), None)
        return first or "cpu"
    return "cuda:0" if device == "cuda" else device


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
        result = analyze(project.model, batch_size=training.batch_size, optimizer=training.optimizer,
                         precision=training.precision)
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
        available = gpu.memory_free + (gpu.our_memory or 0)    # what our own trainer holds is ours to reuse
        if estimate + CUDA_CONTEXT_BYTES > available:
            return (f"The model needs about {format_bytes(estimate)} to train (plus ~"
                    f"{format_bytes(CUDA_CONTEXT_BYTES, 0)} for CUDA), but {target} ({gpu.name}) has only "
                    f"{format_bytes(available)} free: lower the batch size, use bf16/fp16, or pick another device")
        return None
    if estimate is not None:
        available = snapshot.memory.total - snapshot.memory.used
        if estimate > available:
            return (f"The model needs about {format_bytes(estimate)} to train, but only {format_bytes(available)} "
                    "of RAM is free: lower the batch size or close other programs")
    return None
