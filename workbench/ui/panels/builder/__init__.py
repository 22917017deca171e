"""The Model builder panel (issue 4)."""

from workbench.ui.panels.builder.panel import BuilderPanel

__all__ = ["BuilderPanel"]
