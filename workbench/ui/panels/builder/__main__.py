"""`python -m workbench.ui.panels.builder [PROJECT]`: the builder alone on the sample project."""

import sys

from workbench.ui.panels.builder import BuilderPanel
from workbench.ui.preview import preview

sys.exit(preview(BuilderPanel, size=(560, 720)))
