"""Real NVML and torch.cuda figures. Skipped without an NVIDIA GPU (run them on a GPU machine)."""

import os

import pytest

from workbench.core.hardware import HardwareSampler
from workbench.core.hardware.gpu import GpuReader


def _nvidia_gpu_present() -> bool:
    reader = GpuReader()
    try:
        return bool(reader.read()[0])
    finally:
        reader.close()


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not _nvidia_gpu_present(), reason="no NVIDIA GPU / driver")]


def test_real_nvml_figures_are_sane():
    sampler = HardwareSampler()
    try:
        snapshot = sampler.sample()
    finally:
        sampler.stop()
    assert snapshot.gpu_error is None and snapshot.gpus
    for gpu in snapshot.gpus:
        assert gpu.error is None and gpu.name and gpu.uuid.startswith(("GPU-", "MIG-"))
        assert 0 < gpu.memory_used <= gpu.memory_total
        assert gpu.utilization is None or 0 <= gpu.utilization <= 100
        assert gpu.temperature is None or 5 < gpu.temperature < 120
        assert gpu.power_watts is None or 1 < gpu.power_watts < 2000  # watts, not milliwatts
        assert gpu.power_limit_watts is None or 10 < gpu.power_limit_watts < 2000
        assert gpu.sm_clock_mhz is None or 100 < gpu.sm_clock_mhz < 5000


def test_torch_cuda_memory_of_this_process_is_always_known():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here")
    block = torch.empty(256 * 1024**2, dtype=torch.uint8, device="cuda:0")  # 256 MiB
    torch.cuda.synchronize()
    sampler = HardwareSampler()
    try:
        gpu = sampler.sample().gpu("cuda:0")
    finally:
        sampler.stop()
        del block
        torch.cuda.empty_cache()
    assert gpu is not None and gpu.torch is not None
    assert gpu.torch.allocated >= 256 * 1024**2 and gpu.torch.reserved >= gpu.torch.allocated
    ours = [p for p in gpu.processes if p.ours]
    assert len(ours) == 1 and ours[0].pid == os.getpid()
    assert gpu.our_memory >= 256 * 1024**2  # NVML's figure (context included) or torch's reserved bytes
