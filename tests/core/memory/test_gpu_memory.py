"""The traced CUDA estimate against the CUDA caching allocator on a real GPU (skipped without one): the peak of a
training step (second step) against torch.cuda.max_memory_allocated for a CNN, a Transformer and ResNet-18 at two
batch sizes; and the predicted largest batch trains while batch + 25% runs out of memory (under a memory cap)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.slow,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU"),
]

from test_estimate import CNN, TRANSFORMER  # noqa: E402

from workbench.core.hardware.fit import ALLOCATOR_MARGIN, max_batch_size  # noqa: E402
from workbench.core.memory import estimate_memory  # noqa: E402
from workbench.core.model.build import build_model  # noqa: E402
from workbench.core.model.spec import ModelSpec  # noqa: E402
from workbench.core.training.config import TrainingConfig  # noqa: E402
from workbench.core.training.setup import make_optimizer  # noqa: E402

RESNET18 = ModelSpec(
    input_shape=[3, 64, 64], layers=[{"type": "TorchvisionModel", "name": "resnet18", "num_classes": 10}]
)
CASES = [(CNN, (256, 1024)), (TRANSFORMER, (64, 256)), (RESNET18, (16, 64))]


def step_peak(spec: ModelSpec, config: TrainingConfig) -> int:
    """max_memory_allocated over the second of two real training steps, above what was allocated before."""
    device = torch.device("cuda:0")
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()  # anything another test left behind
    torch.manual_seed(0)
    model = build_model(spec, load_weights=False).to(device).train()
    optimizer = make_optimizer(config, model.parameters())
    b = config.batch_size
    shape = (b, *spec.input_shape)
    tokens = spec.layers[0].type == "Embedding"
    x = torch.randint(0, 100, shape, device=device) if tokens else torch.randn(shape, device=device)
    y = torch.randint(0, 5, (b,), device=device)
    for i in range(2):
        if i == 1:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        del loss
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - before
    del model, optimizer, x, y
    torch.cuda.empty_cache()
    return peak


@pytest.fixture(autouse=True)
def _warm_cuda():
    """cuBLAS / cuDNN workspaces are not in the trace (docs/hardware.md): warm them before measuring."""
    a = torch.randn(64, 64, device="cuda")
    (a @ a).sum().item()
    torch.nn.functional.conv2d(torch.randn(1, 3, 8, 8, device="cuda"), torch.randn(4, 3, 3, 3, device="cuda"))
    torch.cuda.synchronize()
    torch.cuda.empty_cache()


@pytest.mark.parametrize("case", range(len(CASES)))
def test_the_cuda_estimate_is_within_10_percent_of_max_memory_allocated(case):
    spec, batches = CASES[case]
    for batch in batches:
        config = TrainingConfig(batch_size=batch)
        estimate = estimate_memory(spec, config, device="cuda:0")
        real = step_peak(spec, config)
        assert abs(estimate.peak_bytes - real) <= 0.10 * real, (case, batch, estimate.peak_bytes, real)


def test_the_largest_batch_trains_and_25_percent_more_runs_out():
    cap = 1.5 * 2**30
    fraction = cap / torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(fraction, 0)
    try:
        config = TrainingConfig(batch_size=16)

        def peak_at(batch: int) -> int:
            return estimate_memory(RESNET18, config, device="cuda:0", batch_size=batch).peak_bytes

        best = max_batch_size(peak_at, lambda peak: peak * (1 + ALLOCATOR_MARGIN) <= cap, limit=100_000)
        assert best > 16
        step_peak(RESNET18, config.model_copy(update={"batch_size": best}))  # no OutOfMemoryError
        with pytest.raises(torch.cuda.OutOfMemoryError):
            step_peak(RESNET18, config.model_copy(update={"batch_size": int(best * 1.25)}))
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, 0)
        torch.cuda.empty_cache()
