"""Where things are: the bundled resources, the sample project, the user's data folder."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _resources() -> Path:
    """The bundled resources: the top-level resources/ folder of a checkout, which the wheel ships inside the
    package as workbench/resources (setup.py maps it). Workbench installs as a plain folder (never zipped), so a
    resource is a real file on disk. Read-only: nothing is ever written here (see `writable_copy`)."""
    installed = Path(str(files("workbench"))) / "resources"
    return installed if (installed / "sample" / "digits.wbproj").is_file() else REPO_ROOT / "resources"


RESOURCES = _resources()
SAMPLE_PROJECT = RESOURCES / "sample" / "digits.wbproj"
APP_ICON = RESOURCES / "icons" / "workbench.svg"


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
        atomic_write_bytes(copy, SAMPLE_PROJECT.read_bytes())
    return copy


def is_bundled(path: str | os.PathLike) -> bool:
    """A file of the bundled resources (never to be written into: not the project, not its runs)."""
    try:
        Path(path).resolve().relative_to(RESOURCES.resolve())
        return True
    except ValueError:
        return False


def writable_copy(project: str | os.PathLike) -> Path:
    """The project to open or train: itself, or for a bundled one (the sample, from a checkout or from
    site-packages) the user's own copy in the user data folder, so its autosave and runs go there."""
    if not is_bundled(project):
        return Path(project)
    if Path(project).resolve() == SAMPLE_PROJECT.resolve():
        return sample_project()
    from workbench.core.io import atomic_write_bytes

    copy = user_data_dir() / "bundled" / Path(project).name
    if not copy.exists():
        atomic_write_bytes(copy, Path(project).read_bytes())
    return copy
