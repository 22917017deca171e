"""core/hardware/fit.py: the traced peak against each device's free memory, the headroom, the largest batch."""

from __future__ import annotations

import math

import pytest

from workbench.core.errors import UserError
from workbench.core.hardware.fit import (
    ALLOCATOR_MARGIN,
    CUDA_CONTEXT_BYTES,
    MemoryPlan,
    fit_warning,
    max_batch_size,
    needed_bytes,
    pick_device,
    plan_memory,
    plan_on,
)
from workbench.core.hardware.sampler import HardwareSampler
from workbench.core.hardware.simulated import SimulatedGpu, SimulatedNvml
from workbench.core.hardware.snapshot import HardwareSnapshot
from workbench.core.model.spec import ModelSpec
from workbench.core.training.config import TrainingConfig
from workbench.core.units import GiB, MiB

MLP = ModelSpec(
    input_shape=[256],
    layers=[
        {"type": "Linear", "out_features": 256},
        {"type": "ReLU"},
        {"type": "Linear", "out_features": 10},
    ],
)


def test_auto_picks_the_first_gpu_not_the_smallest():
    free = {"cuda:0": 20 * GiB, "cuda:1": 1 * GiB}
    assert pick_device("auto", free) == "cuda:0" and pick_device("cuda", free) == "cuda:0"
    assert pick_device("auto", {}) == "cpu" and pick_device("cuda:1", free) == "cuda:1"


def test_headroom_is_the_cuda_context_and_the_allocator_margin():
    assert needed_bytes(GiB, "cuda:0") == math.ceil(GiB * (1 + ALLOCATOR_MARGIN)) + CUDA_CONTEXT_BYTES
    assert needed_bytes(GiB, "cpu") == math.ceil(GiB * (1 + ALLOCATOR_MARGIN))


def test_max_batch_size_search_is_exact_on_a_bent_curve_and_bounded():
    calls = []

    def peak_at(b):
        calls.append(b)
        return 1000 + 100 * b + (b * b // 10 if b > 50 else 0)  # affine, then bending up

    limit = 20_000
    best = max_batch_size(peak_at, lambda p: p <= limit)
    assert peak_at(best) <= limit < peak_at(best + 1)
    assert len(calls) <= 16
    assert max_batch_size(lambda b: 10 * b, lambda p: p <= 5) == 0
    assert max_batch_size(lambda b: b, lambda p: True, limit=64) == 64


def _gpu_snapshot(used: int, total: int = 24 * GiB) -> HardwareSnapshot:
    return HardwareSampler(backend=SimulatedNvml([SimulatedGpu(used=used, total=total)])).sample()


def test_plan_on_a_gpu_fits_and_the_largest_batch_fits_where_one_more_does_not():
    snap = _gpu_snapshot(used=24 * GiB - CUDA_CONTEXT_BYTES - 40 * MiB)  # 40 MiB beyond the context
    config = TrainingConfig(batch_size=64)
    plan = plan_memory(MLP, config, "auto", snap)
    assert plan.device == "cuda:0" and plan.device_name == "NVIDIA GeForce RTX 4090"
    assert plan.available_bytes == CUDA_CONTEXT_BYTES + 40 * MiB
    assert plan.fits is True and plan.needed_bytes == needed_bytes(plan.peak_bytes, "cuda:0")
    best = plan.max_batch_size
    assert best > 64
    at_best = plan_memory(MLP, config.model_copy(update={"batch_size": best}), "cuda:0", snap, search=False)
    beyond = plan_memory(
        MLP, config.model_copy(update={"batch_size": best + 1}), "cuda:0", snap, search=False
    )
    assert at_best.fits is True and beyond.fits is False
    advice = plan_memory(MLP, config.model_copy(update={"batch_size": 2 * best}), "cuda:0", snap).advice()
    assert f"batch {best} x 2 accumulation steps" in advice and "bf16/fp16" in advice
    assert MemoryPlan.from_dict(plan.to_dict()) == plan


def test_plan_on_the_cpu_uses_the_ram_the_os_can_hand_out():
    snap = HardwareSampler(backend=SimulatedNvml([])).sample()
    plan = plan_memory(MLP, TrainingConfig(batch_size=32), "cpu", snap, search=False)
    assert plan.device == "cpu" and plan.available_bytes == snap.memory.total - snap.memory.used
    assert plan.fits is True and plan.max_batch_size is None


def test_a_gpu_that_is_not_there_is_a_user_error():
    snap = HardwareSampler(backend=SimulatedNvml([])).sample()
    with pytest.raises(UserError, match="cuda:0 is not available"):
        plan_memory(MLP, TrainingConfig(), "cuda", snap)
    with pytest.raises(UserError, match="unknown device"):
        plan_memory(MLP, TrainingConfig(), "tpu", snap)


def test_the_hardware_panel_warning_uses_the_plan_against_the_latest_free_memory():
    roomy = _gpu_snapshot(used=2 * GiB)
    plan = plan_memory(MLP, TrainingConfig(batch_size=64), "cuda:0", roomy, search=False)
    assert fit_warning(plan, "auto", roomy) is None
    full = _gpu_snapshot(used=24 * GiB - 100 * MiB)
    warning = fit_warning(plan, "auto", full)
    assert warning.startswith("Training needs about") and "100.0 MiB is free" in warning
    assert "not available" in fit_warning(plan, "cuda:3", full)


def test_the_search_stops_at_the_limit_the_training_split():
    plan = plan_on(MLP, TrainingConfig(batch_size=32), "cpu", 64 * GiB, "CPU", limit=1257)
    assert plan.max_batch_size == 1257
