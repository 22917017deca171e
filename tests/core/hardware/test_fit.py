"""core/hardware/fit.py: the one "will it fit on the GPU" check the builder and the hardware panel share."""

from __future__ import annotations

from workbench.core.hardware.fit import fit_warning, gpu_fit, pick_device
from workbench.core.hardware.sampler import HardwareSampler
from workbench.core.hardware.simulated import SimulatedGpu, SimulatedNvml
from workbench.core.hardware.snapshot import HardwareSnapshot
from workbench.core.units import GiB, MiB


def test_auto_picks_the_first_gpu_not_the_smallest_and_cpu_has_no_gpu_fit():
    free = {"cuda:0": 20 * GiB, "cuda:1": 1 * GiB}
    assert pick_device("auto", free) == "cuda:0" and pick_device("cuda", free) == "cuda:0"
    assert pick_device("auto", {}) == "cpu"
    assert gpu_fit(GiB, "auto", free).device == "cuda:0"
    assert gpu_fit(GiB, "cuda:1", free).device == "cuda:1"
    assert gpu_fit(GiB, "cpu", free) is None and gpu_fit(GiB, "cuda:3", free) is None


def test_the_cuda_context_counts():
    """An estimate that fits the free memory but not with the CUDA context does not fit (the builder used to
    say "fits" here while the hardware panel warned)."""
    free = {"cuda:0": 4 * GiB}
    assert gpu_fit(4 * GiB - 256 * MiB, "cuda:0", free).fits is False
    assert gpu_fit(4 * GiB - 512 * MiB, "cuda:0", free).fits is True
    assert gpu_fit(GiB, "cuda:0", free).needed == GiB + 512 * MiB


def _snapshot(used_gib: int) -> HardwareSnapshot:
    backend = SimulatedNvml([SimulatedGpu(used=used_gib * GiB, total=24 * GiB)])
    return HardwareSampler(backend=backend).sample()


def test_the_hardware_panel_warning_uses_the_same_check():
    snap = _snapshot(20)  # 4 GiB free
    assert fit_warning(4 * GiB - 512 * MiB, "cuda:0", snap) is None
    warning = fit_warning(4 * GiB - 256 * MiB, "auto", snap)
    assert "3.8 GiB to train (plus ~512 MiB for CUDA)" in warning and "4.0 GiB free" in warning
