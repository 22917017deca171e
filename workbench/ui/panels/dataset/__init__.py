"""The Dataset panel: sources, preview, statistics, splits, transforms, background loading."""

from workbench.ui.panels.dataset.panel import DatasetPanel

__all__ = ["DatasetPanel"]
