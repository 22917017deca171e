"""The Training panel: live training with pause / resume / stop, curves, runs and evaluation."""

from workbench.ui.panels.training.panel import TrainingPanel

__all__ = ["TrainingPanel"]
