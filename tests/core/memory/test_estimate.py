"""core/memory: the traced estimate against MemTracker over a REAL training step (real CPU tensors, two steps,
the second measured, as torchtitan did), written here independently of the estimate's own code path."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch.distributed._tools.mem_tracker import MemTracker  # noqa: E402

from workbench.core.errors import UserError  # noqa: E402
from workbench.core.memory import estimate_memory  # noqa: E402
from workbench.core.model.build import build_model  # noqa: E402
from workbench.core.model.spec import ModelSpec  # noqa: E402
from workbench.core.paths import SAMPLE_PROJECT  # noqa: E402
from workbench.core.project import load_project  # noqa: E402
from workbench.core.training.config import TrainingConfig  # noqa: E402
from workbench.core.training.setup import make_optimizer  # noqa: E402

CNN = load_project(SAMPLE_PROJECT).model
MLP = ModelSpec(
    input_shape=[32],
    layers=[
        {"type": "Linear", "out_features": 128},
        {"type": "ReLU"},
        {"type": "Dropout", "p": 0.1},
        {"type": "Linear", "out_features": 10},
    ],
)
TRANSFORMER = ModelSpec(
    input_shape=[16],
    layers=[
        {"type": "Embedding", "num_embeddings": 100, "embedding_dim": 32},
        {"type": "TransformerEncoderLayer", "nhead": 4, "dim_feedforward": 64},
        {"type": "TransformerEncoderLayer", "nhead": 4, "dim_feedforward": 64},
        {"type": "SequencePool"},
        {"type": "Linear", "out_features": 5},
    ],
)
RESNET18 = ModelSpec(
    input_shape=[3, 32, 32], layers=[{"type": "TorchvisionModel", "name": "resnet18", "num_classes": 10}]
)
MODELS = {"cnn": (CNN, (64, 256)), "mlp": (MLP, (16, 128)), "transformer": (TRANSFORMER, (4, 16))}


def measured_peak(spec: ModelSpec, config: TrainingConfig, checkpointing: bool = False) -> int:
    """MemTracker's peak over the second of two real training steps on the CPU."""
    from workbench.core.training.activation_checkpointing import with_activation_checkpointing

    torch.manual_seed(0)
    model = build_model(spec, load_weights=False)
    if checkpointing:
        model = with_activation_checkpointing(model)
    model.train()
    optimizer = make_optimizer(config, model.parameters())
    b = config.batch_size
    tokens = spec.layers[0].type == "Embedding"
    shape = (b, *spec.input_shape)
    x = torch.randint(0, 100, shape) if tokens else torch.randn(shape)
    y = torch.randint(0, 5, (b,))
    tracker = MemTracker()
    tracker.track_external(model, optimizer, x, y)
    with tracker:
        for i in range(2):
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            del loss
            if i == 0:
                tracker.reset_mod_stats()
        optimizer.zero_grad(set_to_none=True)
    return next(iter(tracker.get_tracker_snapshot("peak").values()))["Total"]


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("name", list(MODELS))
def test_estimate_within_10_percent_of_the_real_peak(name, optimizer):
    spec, batches = MODELS[name]
    for batch in batches:
        config = TrainingConfig(batch_size=batch, optimizer=optimizer)
        estimate = estimate_memory(spec, config, device="cpu")
        real = measured_peak(spec, config)
        assert estimate.method == "traced"
        assert abs(estimate.peak_bytes - real) <= 0.10 * real, (
            name,
            optimizer,
            batch,
            estimate.peak_bytes,
            real,
        )
        assert sum(estimate.categories.values()) == estimate.peak_bytes
    # the batch grows the activations, not the weights
    small = estimate_memory(spec, TrainingConfig(batch_size=batches[0], optimizer=optimizer))
    large = estimate_memory(spec, TrainingConfig(batch_size=batches[1], optimizer=optimizer))
    assert large.categories["parameters"] == small.categories["parameters"]
    assert large.categories["activations"] > small.categories["activations"]


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_resnet18_within_10_percent(optimizer):
    for batch in (2, 8):
        config = TrainingConfig(batch_size=batch, optimizer=optimizer)
        estimate = estimate_memory(RESNET18, config)
        real = measured_peak(RESNET18, config)
        assert abs(estimate.peak_bytes - real) <= 0.10 * real, (optimizer, batch, estimate.peak_bytes, real)


def test_categories_and_layers_of_the_sample_cnn():
    adam = estimate_memory(CNN, TrainingConfig(batch_size=256, optimizer="adam"))
    sgd = estimate_memory(CNN, TrainingConfig(batch_size=256, optimizer="sgd", momentum=0.0))
    params = sum(p.numel() for p in build_model(CNN, load_weights=False).parameters())
    assert adam.total_params == params
    assert adam.categories["parameters"] == 4 * params
    assert adam.categories["optimizer_states"] >= 2 * 4 * params  # Adam: two moments per weight
    assert sgd.categories["optimizer_states"] == 0  # plain SGD keeps no state
    assert [row.type for row in adam.layers] == [layer.type for layer in CNN.layers]
    conv = adam.layers[0]
    assert conv.activation_bytes == 256 * 16 * 8 * 8 * 4  # its output, kept for the ReLU's backward
    assert all(row.peak_bytes <= adam.peak_bytes for row in adam.layers)


def test_cached_by_spec_and_the_settings_that_change_memory():
    config = TrainingConfig(batch_size=48)
    first = estimate_memory(MLP, config)
    assert estimate_memory(MLP, config.model_copy(update={"lr": 0.5, "epochs": 3})) is first
    assert estimate_memory(MLP, config.model_copy(update={"batch_size": 49})) is not first


def test_frozen_parameters_have_no_gradients_nor_optimizer_state():
    """The trainable set is read from the built model's requires_grad after training's fine-tuning step
    (here the builder's lock on layer 0: TrainingConfig.frozen)."""
    spec = MLP.model_copy(update={"input_shape": [31]})
    full = estimate_memory(spec, TrainingConfig(batch_size=8))
    frozen = estimate_memory(spec, TrainingConfig(batch_size=8, frozen=["0"]))
    first_layer = 4 * (31 * 128 + 128)
    assert full.categories["gradients"] - frozen.categories["gradients"] == first_layer
    assert full.categories["optimizer_states"] - frozen.categories["optimizer_states"] >= 2 * first_layer
    assert frozen.trainable_params == full.trainable_params - first_layer // 4
    assert frozen.peak_bytes < full.peak_bytes


def test_cuda_estimate_rounds_blocks_and_amp_shrinks_activations():
    config = TrainingConfig(batch_size=256)
    cpu = estimate_memory(CNN, config, device="cpu")
    cuda = estimate_memory(CNN, config, device="cuda")
    assert cuda.peak_bytes > cpu.peak_bytes  # 512-byte blocks
    assert cuda.categories["parameters"] % 512 == 0
    fp16 = estimate_memory(CNN, config.model_copy(update={"precision": "fp16"}), device="cuda")
    assert fp16.precision == "fp16" and fp16.peak_bytes < 0.8 * cuda.peak_bytes
    on_cpu = estimate_memory(CNN, config.model_copy(update={"precision": "bf16"}), device="cpu")
    assert on_cpu.precision == "fp32" and on_cpu.peak_bytes == cpu.peak_bytes and on_cpu.notes


def test_accumulation_and_checkpointing_lower_the_estimate():
    base = TrainingConfig(batch_size=256)
    whole = estimate_memory(CNN, base)
    accumulated = estimate_memory(
        CNN, base.model_copy(update={"batch_size": 64, "grad_accumulation_steps": 4})
    )
    assert accumulated.peak_bytes < 0.6 * whole.peak_bytes
    assert accumulated.grad_accumulation_steps == 4
    checkpointed = estimate_memory(CNN, base.model_copy(update={"activation_checkpointing": True}))
    assert checkpointed.peak_bytes < whole.peak_bytes
    # a Transformer block keeps many activations inside: checkpointing each block lowers the REAL peak by ~40%
    config = TrainingConfig(batch_size=16)
    real = measured_peak(TRANSFORMER, config, checkpointing=True)
    assert real < 0.7 * measured_peak(TRANSFORMER, config)
    traced = estimate_memory(TRANSFORMER, config.model_copy(update={"activation_checkpointing": True}))
    assert abs(traced.peak_bytes - real) <= 0.10 * real


def test_fake_failure_falls_back_and_says_so(monkeypatch):
    import workbench.core.memory.estimate as estimate

    def refuse(plan, fake, batch, micro_batches=None):
        if fake:
            raise RuntimeError("aten._local_scalar_dense: data-dependent")
        return original(plan, fake, batch, micro_batches)

    original = estimate._trace
    monkeypatch.setattr(estimate, "_trace", refuse)
    spec = MLP.model_copy(update={"input_shape": [30]})
    result = estimate_memory(spec, TrainingConfig(batch_size=64))
    assert result.method == "extrapolated" and "fake tensors failed" in result.notes[0]
    monkeypatch.setattr(estimate, "_trace", original)
    traced = estimate_memory(spec, TrainingConfig(batch_size=64, seed=1))  # same key: cached
    assert traced is result
    estimate._CACHE.clear()
    assert abs(estimate_memory(spec, TrainingConfig(batch_size=64)).peak_bytes - result.peak_bytes) <= (
        0.10 * result.peak_bytes
    )


def test_a_model_that_cannot_be_built_is_a_user_error():
    bad = ModelSpec(input_shape=[3, 8, 8], layers=[{"type": "Linear", "in_features": 5, "out_features": 2}])
    with pytest.raises(UserError, match="cannot be built"):
        estimate_memory(bad, TrainingConfig(batch_size=4))


@pytest.mark.slow
def test_an_imported_model_frozen_or_with_lora_trains_fewer_weights(tmp_path):
    """A Hugging Face BERT (made offline): freeze and LoRA (training/finetune.py) change the estimate."""
    from realdata import stdlib_docstrings

    from tests.core.pretrained_models import save_tiny_bert

    folder = save_tiny_bert(tmp_path / "bert", [t for t, _ in stdlib_docstrings()][:200], layers=2)
    layer = {"type": "Pretrained", "format": "huggingface", "source": str(folder), "num_classes": 4}
    spec = ModelSpec(input_shape=[32], layers=[layer])
    plans = {
        method: estimate_memory(spec, TrainingConfig(batch_size=16, finetune=method), input_dtype="int64")
        for method in ("full", "freeze", "lora")
    }
    assert all(p.method == "traced" for p in plans.values())
    full, freeze, lora = plans["full"], plans["freeze"], plans["lora"]
    assert freeze.trainable_params < lora.trainable_params < full.trainable_params / 10
    assert lora.total_params > full.total_params  # the adapters' weights
    assert freeze.peak_bytes < lora.peak_bytes < full.peak_bytes
