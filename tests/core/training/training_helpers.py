"""Helpers for the trainer tests (imported by the test modules beside it)."""

from __future__ import annotations

from workbench.core.model.spec import ModelSpec
from workbench.core.project import Project
from workbench.core.training.config import TrainingConfig

MLP = {
    "input_shape": [1, 8, 8],
    "layers": [
        {"type": "Flatten"},
        {"type": "Linear", "out_features": 64},
        {"type": "ReLU"},
        {"type": "Linear", "out_features": 10},
    ],
}
CNN = {
    "input_shape": [1, 8, 8],
    "layers": [
        {"type": "Conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
        {"type": "ReLU"},
        {"type": "MaxPool2d", "kernel_size": 2},
        {"type": "Flatten"},
        {"type": "Linear", "out_features": 10},
    ],
}


def make_project(model=MLP, **training) -> Project:
    options = {"epochs": 2, "batch_size": 32, "optimizer": "adam", "lr": 3e-3, "seed": 0, "device": "cpu"}
    options.update(training)
    return Project(model=ModelSpec.model_validate(model), training=TrainingConfig(**options))


def run_all(project, data, tmp_path, **kwargs):
    from workbench.core.training.loop import train

    kwargs.setdefault("runs_root", tmp_path / "runs")
    return list(train(project, data, **kwargs))
