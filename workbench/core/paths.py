"""Where things are: the bundled resources, the sample project, the user's data folder."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RESOURCES = REPO_ROOT / "resources"
SAMPLE_PROJECT = RESOURCES / "sample" / "digits.wbproj"


def user_data_dir() -> Path:
    """Per-user folder for autosaves of untitled projects, settings and plugins (XDG on Linux)."""
    base = os.environ.get("WORKBENCH_HOME") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "workbench")
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path
