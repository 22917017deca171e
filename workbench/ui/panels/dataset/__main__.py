"""`python -m workbench.ui.panels.dataset [PROJECT]`: the Dataset panel alone on the sample project."""

import sys

from workbench.ui.panels.dataset import DatasetPanel
from workbench.ui.preview import preview

if __name__ == "__main__":
    sys.exit(preview(DatasetPanel, size=(560, 700)))
