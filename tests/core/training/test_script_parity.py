"""The standalone training script (core/scriptgen) trains step by step like the trainer (core/training/
loop.py): the same project, run by both on the CPU, gives the same loss at every step and test accuracy."""

from __future__ import annotations

import runpy

import pytest
import torch

from workbench.core.data import DatasetSettings, load_dataset
from workbench.core.model.templates import make_template
from workbench.core.project import Project
from workbench.core.scriptgen import READER, export_training_script
from workbench.core.training.events import BatchEnd, Evaluated
from workbench.core.training.loop import train


def _script_losses(project, tmp_path) -> tuple[list[float], dict]:
    """Runs the generated script's main() in this process, recording the loss of every training step."""
    ns = runpy.run_path(str(export_training_script(project, tmp_path / "train.py")))
    script_globals = ns["fit"].__globals__
    real, losses = script_globals["compute_loss"], []

    def recording(cfg, task, out, y):
        loss = real(cfg, task, out, y)
        if torch.is_grad_enabled():  # a training step (evaluation runs under no_grad)
            losses.append(loss.item())
        return loss

    script_globals["compute_loss"] = recording
    summary = ns["main"](
        ns["DATA"],
        ns["TRAINING"],
        ns["Model"],
        ns[READER["digits"]],
        "{}",
        argv=["--out", str(tmp_path / "script-out"), "--device", "cpu"],
    )
    return losses, summary


@pytest.mark.parametrize(
    "training",
    [
        {"optimizer": "adam", "lr": 3e-3},
        {
            "optimizer": "sgd",
            "lr": 0.05,
            "momentum": 0.9,
            "scheduler": "onecycle",
            "label_smoothing": 0.1,
            "grad_clip": 1.0,
            "batch_size": 100,
        },
    ],
    ids=["adam", "sgd-onecycle-smoothing-clip"],
)
def test_script_and_trainer_give_the_same_loss_at_every_step(tmp_path, training):
    settings = DatasetSettings(kind="digits", source="digits")
    meta = load_dataset(settings).meta
    model = make_template("mlp", meta.input_shape, meta.num_classes)
    project = Project(
        name="parity",
        dataset=settings,
        model=model,
        training={"epochs": 3, "batch_size": 64, "device": "cpu", "seed": 7, **training},
    )
    events = list(train(project, runs_root=tmp_path / "runs"))
    trainer_losses = [e.loss for e in events if isinstance(e, BatchEnd)]
    evaluated = next(e for e in events if isinstance(e, Evaluated))

    script_losses, summary = _script_losses(project, tmp_path)

    assert len(trainer_losses) > 30 and len(script_losses) == len(trainer_losses)
    assert script_losses == trainer_losses  # identical, step by step
    assert summary[f"{evaluated.split}_accuracy"] == evaluated.accuracy
