import sys

from workbench.ui.panels.export import ExportPanel
from workbench.ui.preview import preview

sys.exit(preview(ExportPanel, size=(740, 420)))
