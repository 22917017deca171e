"""The Model builder panel."""

from workbench.ui.panels.builder.panel import BuilderPanel

__all__ = ["BuilderPanel"]
