"""summary.json reports the test accuracy of the last weights and of the best checkpoint (what export uses)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from training_helpers import make_project, run_all


def _accuracy(checkpoint: Path, split) -> float:
    from workbench.core.model.build import build_model
    from workbench.core.training.checkpoints import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    model = build_model(ckpt.spec)
    model.load_state_dict(ckpt.state_dict)
    model.eval()
    with torch.no_grad():
        return (model(split.x).argmax(1) == split.y).float().mean().item()


def test_summary_reports_last_and_best_checkpoint_test_accuracy(digits, tmp_path):
    # a high learning rate makes the last epoch's weights differ from the best epoch's
    events = run_all(make_project(epochs=4, lr=0.05, optimizer="sgd"), digits, tmp_path)
    run = Path(events[-1].run_dir)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_split"] == "test" and summary["test_accuracy_weights"] == "last"
    last = _accuracy(run / "checkpoints" / "last.safetensors", digits.test)
    best = _accuracy(run / "checkpoints" / "best.safetensors", digits.test)
    assert abs(summary["test_accuracy"] - last) < 1e-6
    assert abs(summary["best_checkpoint_test_accuracy"] - best) < 1e-6
    assert summary["best_checkpoint_test_loss"] > 0
