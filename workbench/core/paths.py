"""Where things are: the bundled resources, the sample project, the user's data folder."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# Package data (workbench/resources/, shipped in the wheel). Workbench installs as a plain folder (never
# zipped), so the resource is a real file on disk and callers may use it as a Path.
RESOURCES = Path(str(files("workbench") / "resources"))
SAMPLE_PROJECT = RESOURCES / "sample" / "digits.wbproj"


def user_data_dir() -> Path:
    """Per-user folder for autosaves of untitled projects, settings and plugins (XDG on Linux)."""
    base = os.environ.get("WORKBENCH_HOME") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "workbench"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def sample_project() -> Path:
    """A user's own copy of the sample project (made on first use), so edits and runs never land in the
    installation. The bundled original stays at SAMPLE_PROJECT."""
    from workbench.core.io import atomic_write_bytes

    copy = user_data_dir() / "sample" / SAMPLE_PROJECT.name
    if not copy.exists():  # copied atomically: a crash mid-copy must not leave a half project forever
        bundled = files("workbench") / "resources" / "sample" / SAMPLE_PROJECT.name
        atomic_write_bytes(copy, bundled.read_bytes())
    return copy
