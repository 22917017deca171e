"""Which plugins and plugin folders are enabled: `<user data>/plugins.json`, written atomically.

    {"format_version": 1,
     "disabled": ["squeeze_excite"],                     # plugin ids not imported at the next start
     "folders": {"/home/me/.local/share/workbench/plugins": true},
     "known": {"squeeze_excite": {"name": ..., "version": ..., "description": ..., "contributions": {...}}}}

`known` remembers what a plugin was the last time it loaded, so a disabled plugin (never imported) still shows
its name, version and contributions in the dialog. A damaged file is reported and replaced by defaults on the
next change; it never stops start-up.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workbench.core.errors import UserError, describe_validation_error
from workbench.core.io import atomic_write_json, read_json
from workbench.core.paths import REPO_ROOT, user_data_dir

FORMAT_VERSION = 1
STATE_FILE = "plugins.json"
log = logging.getLogger("workbench.plugins")


def repository_plugins_dir() -> Path | None:
    """The checkout's `plugins/` folder (examples); None when Workbench is installed from a wheel."""
    folder = REPO_ROOT / "plugins"
    return folder if folder.is_dir() and (REPO_ROOT / "pyproject.toml").is_file() else None


def user_plugins_dir() -> Path:
    return user_data_dir() / "plugins"


class PluginState(BaseModel):
    model_config = ConfigDict(extra="ignore")
    format_version: int = FORMAT_VERSION
    disabled: list[str] = Field(default_factory=list)
    folders: dict[str, bool] = Field(default_factory=dict)
    known: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def folder_list(self) -> list[tuple[Path, bool]]:
        """Every folder plugins may come from, with whether it is enabled. The repository's `plugins/` is
        enabled by default in a development checkout; the user's plugin folder (and any added one) only once
        the user enables it."""
        out: dict[str, bool] = {}
        repo = repository_plugins_dir()
        if repo is not None:
            out[str(repo)] = True
        out[str(user_plugins_dir())] = False
        for path, enabled in self.folders.items():
            out[str(Path(path).expanduser())] = enabled
        return [(Path(p), on) for p, on in out.items()]

    def is_enabled(self, plugin_id: str) -> bool:
        return plugin_id not in self.disabled


def state_path() -> Path:
    return user_data_dir() / STATE_FILE


def load_state(path: Path | None = None) -> tuple[PluginState, str | None]:
    """(the state, a warning when the file was damaged and defaults are used instead)."""
    path = path or state_path()
    if not path.exists():
        return PluginState(), None
    try:
        raw = read_json(path, "plugin settings")
        if not isinstance(raw, dict):
            raise UserError(f"plugin settings {path} must hold a JSON object")
        version = raw.get("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise UserError(
                f"plugin settings {path} have format_version {version!r}, newer than this "
                f"Workbench ({FORMAT_VERSION}); update Workbench"
            )
        return PluginState.model_validate(raw), None
    except ValidationError as exc:
        message = describe_validation_error(exc, f"plugin settings {path}")
    except UserError as exc:
        message = str(exc)
    log.warning("%s; using defaults", message)
    return PluginState(), f"{message}; the defaults are used until you change a setting"


def save_state(state: PluginState, path: Path | None = None) -> None:
    atomic_write_json(path or state_path(), state.model_dump(mode="json"))
