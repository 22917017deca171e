"""The training options that make a model fit (TrainingConfig.grad_accumulation_steps, activation_checkpointing)
work in training, not only in the memory estimate."""

from __future__ import annotations

from pathlib import Path

import pytest
from safetensors.torch import load_file
from training_helpers import CNN, make_project, run_all

TOLERANCE = {"rel": 1e-5, "abs": 1e-6}  # float32 sums in another order: equal to ~1e-7 relative per weight


def final_weights(events):
    finished = events[-1]
    assert finished.kind == "finished" and finished.status == "completed", finished.message
    return load_file(str(Path(finished.run_dir) / "checkpoints" / "last.safetensors"))


def batch_losses(events):
    return [e.loss for e in events if e.kind == "batch"]


def test_accumulation_gives_the_weights_of_the_large_batch(digits, tmp_path):
    """4 micro-batches of 32 = one step of 128 (the last, partial step too: 1257 training samples)."""
    large = run_all(make_project(epochs=2, batch_size=128), digits, tmp_path / "large")
    accumulated = run_all(
        make_project(epochs=2, batch_size=32, grad_accumulation_steps=4), digits, tmp_path / "acc"
    )
    assert len(batch_losses(accumulated)) == len(batch_losses(large))  # one event per optimizer step
    assert batch_losses(accumulated) == pytest.approx(batch_losses(large), **TOLERANCE)
    a, b = final_weights(large), final_weights(accumulated)
    assert a.keys() == b.keys()
    for key in a:
        assert b[key].numpy() == pytest.approx(a[key].numpy(), **TOLERANCE), key
    assert accumulated[-1].best_val_accuracy == pytest.approx(large[-1].best_val_accuracy)
    small = run_all(make_project(epochs=2, batch_size=32), digits, tmp_path / "small")
    assert batch_losses(small)[5] != pytest.approx(batch_losses(large)[5], **TOLERANCE)  # the test can fail


def test_activation_checkpointing_trains_the_same_model(digits, tmp_path):
    plain = run_all(make_project(CNN, epochs=1), digits, tmp_path / "plain")
    checkpointed = run_all(
        make_project(CNN, epochs=1, activation_checkpointing=True), digits, tmp_path / "ckpt"
    )
    assert batch_losses(checkpointed) == pytest.approx(batch_losses(plain), **TOLERANCE)
    a, b = final_weights(plain), final_weights(checkpointed)
    assert a.keys() == b.keys()  # same state-dict keys: checkpoints, resume and export see the same model
    for key in a:
        assert b[key].numpy() == pytest.approx(a[key].numpy(), **TOLERANCE), key
