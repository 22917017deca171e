"""The data source registry. Built-in sources register here exactly as a plugin would:

    from workbench.core.data import SourceType, register_source
    register_source(SourceType(kind="myformat", label="My format", load=load_my_format,
                               detect=lambda path: path.suffix == ".myf", options={...}))

`load(settings, progress, cancel) -> RawData` reads the source (see `workbench.core.data.raw`); the loader
does splitting, normalization and materialization for every source alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import UserError
from workbench.core.registry import Registry


@dataclass(frozen=True)
class OptionSpec:
    """One setting a source understands (`DatasetSettings.options[name]`); the panel builds an editor from it."""

    name: str
    label: str
    default: Any
    choices: tuple[Any, ...] | None = None  # a combo box; otherwise typed by `default` (bool/int/float/str)
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choice_labels: tuple[str, ...] | None = None  # shown for each choice (default: the value itself)


@dataclass(frozen=True)
class SourceType:
    kind: str  # stored in DatasetSettings.kind
    label: str  # shown in the panel's source picker
    load: Callable[..., Any]  # load(settings, progress, cancel) -> RawData
    path_mode: str = "folder"  # "folder" | "file" | "none" (a built-in set, like digits)
    file_filter: str = ""  # for a file dialog, e.g. "CSV files (*.csv *.tsv *.txt)"
    needs_target: bool = False  # the panel shows a target-column picker
    detect: Callable[[Path], bool] | None = None  # does this path look like this kind? (for auto-detection)
    options: tuple[OptionSpec, ...] = ()
    supports_val_source: bool = False  # a separate validation folder/file
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _load_builtin_sources() -> None:
    from workbench.core.data import builtins  # noqa: F401 - registers the built-in sources on import


SOURCES: Registry[SourceType] = Registry("data kind", lambda s: s.kind, _load_builtin_sources)
add_missing_hint = SOURCES.add_missing_hint
unregister_source = SOURCES.unregister
get_source = SOURCES.lookup
source_types = SOURCES.items


def register_source(source: SourceType, *, replace: bool = False, only_here: bool = False) -> SourceType:
    return SOURCES.register(source, replace, only_here)


def detect_kind(source: str) -> str:
    """Guess the kind from the source: `digits`, a folder of class folders, a .csv or .npz file, ..."""
    if source.strip().lower() == "digits":
        return "digits"
    path = Path(source).expanduser()
    if not path.exists():
        raise UserError(f"data source not found: {path}; give an existing file or folder, or `digits`")
    for src in SOURCES.items():
        if src.detect is not None:
            try:
                if src.detect(path):
                    return src.kind
            except OSError:
                continue
    raise UserError(
        f"cannot tell what kind of data {path} is; pass --kind ({', '.join(sorted(SOURCES.names()))})"
    )
