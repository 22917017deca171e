"""`python -m workbench.ui.panels.training [PROJECT]`: the Training panel alone on the sample project."""

from __future__ import annotations

import sys

from workbench.ui.panels.training.panel import TrainingPanel
from workbench.ui.preview import preview

if __name__ == "__main__":
    sys.exit(preview(TrainingPanel, size=(900, 620)))
