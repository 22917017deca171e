"""Export: a compact dock panel (what will be exported, recent reports, Export...) and the export wizard."""

from workbench.ui.panels.export.panel import ExportPanel

__all__ = ["ExportPanel"]
