"""The project document (`*.wbproj`, JSON): dataset, model, training and export settings. Runs live in
`runs/` beside the file. Loading validates (pydantic) and migrates; saving is atomic; nothing is evaluated."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workbench.core.data.settings import DatasetSettings
from workbench.core.errors import UserError, describe_validation_error
from workbench.core.export.settings import ExportSettings
from workbench.core.io import atomic_write_text, check_json_limits, read_json
from workbench.core.model.spec import ModelSpec
from workbench.core.training.config import TrainingConfig

FORMAT_VERSION = 1
SUFFIX = ".wbproj"
AUTOSAVE_SUFFIX = ".autosave"

# Migrations: MIGRATIONS[n] turns a version-n document (a dict) into version n+1.
MIGRATIONS: dict[int, Any] = {}


class Project(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format_version: int = FORMAT_VERSION
    name: str = "Untitled"
    dataset: DatasetSettings = Field(default_factory=DatasetSettings)
    model: ModelSpec = Field(default_factory=ModelSpec)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    export: ExportSettings = Field(default_factory=ExportSettings)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


def migrate(doc: dict[str, Any], source: str = "project") -> dict[str, Any]:
    """Bring an older document up to FORMAT_VERSION; refuse newer ones with a clear message."""
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise UserError(f"{source} has no integer format_version: it is not a Workbench project")
    if version > FORMAT_VERSION:
        raise UserError(
            f"{source} is format_version {version}, newer than this Workbench ({FORMAT_VERSION}); "
            "update Workbench to open it"
        )
    while version < FORMAT_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise UserError(f"{source}: no migration from format_version {version}")
        doc = step(doc)
        version = doc["format_version"]
    return doc


def project_from_dict(doc: Any, source: str = "project") -> Project:
    if not isinstance(doc, dict):
        raise UserError(f"{source} must be a JSON object, not {type(doc).__name__}")
    check_json_limits(
        doc, source
    )  # nesting and size limits, also for documents that did not come from a file
    doc = migrate(doc, source)
    try:
        return Project.model_validate(doc)
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc, f"{source} is not a valid project")) from exc
    except (RecursionError, ValueError, OverflowError) as exc:  # a value pydantic cannot even convert
        raise UserError(f"{source} is not a valid project: {str(exc).split(';')[0][:160]}") from None


def load_project(path: str | os.PathLike) -> Project:
    """A relative dataset path in the file is taken relative to the project's folder, not the current one."""
    path = Path(path)
    project = project_from_dict(read_json(path, "project file"), f"project file {path}")
    resolve_data_paths(project, path.resolve().parent)
    return project


def resolve_data_paths(project: Project, folder: Path) -> None:
    from workbench.core.data import get_source

    data = project.dataset
    try:
        if get_source(data.kind).path_mode == "none":
            return
    except UserError:  # an unknown kind (a disabled plugin): reported when the data is loaded
        return
    for field in ("source", "val_source"):
        value = getattr(data, field)
        if value and not Path(value).expanduser().is_absolute():
            setattr(data, field, str(folder / Path(value).expanduser()))


def save_project(project: Project, path: str | os.PathLike) -> Path:
    """Write atomically. The project file is replaced only once the new content is complete on disk."""
    from workbench.core.io import refuse_output_over_inputs

    path = Path(path)
    data = project.dataset
    refuse_output_over_inputs([path], [data.source if data.kind != "digits" else None, data.val_source])
    atomic_write_text(path, project.to_json())
    return path


def runs_dir(project_path: str | os.PathLike) -> Path:
    """Runs live in `runs/` beside the project file."""
    return Path(project_path).resolve().parent / "runs"


def autosave_path(project_path: str | os.PathLike | None) -> Path:
    """The side file edits are autosaved to (never the project file itself)."""
    if project_path is None:
        from workbench.core.paths import user_data_dir

        return user_data_dir() / f"untitled{SUFFIX}{AUTOSAVE_SUFFIX}"
    p = Path(project_path)
    return p.with_name(p.name + AUTOSAVE_SUFFIX)
