"""The model spec document (docs/contract.md section 2): layers named as in torch.nn, their kwargs beside `type`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

FORMAT_VERSION = 1


MAX_SAMPLE_VALUES = 2**63 - 1  # torch holds at most this many values in one tensor (int64 numel)


def check_input_shape(shape: list[int]) -> list[int]:
    """`shape` (without the batch) if each size is 1 or more and one sample fits in a tensor; else ValueError
    with one line (never an OverflowError: sizes like 10**400 are refused before any float sees them)."""
    from workbench.core.units import huge_text

    if not shape or any(d <= 0 for d in shape):
        raise ValueError(
            f"input_shape must be positive sizes without the batch dimension, got "
            f"{[d if abs(d).bit_length() <= 64 else huge_text(d) for d in shape]}"
        )
    values = 1
    for d in shape:
        values *= d
        if values > MAX_SAMPLE_VALUES:
            raise ValueError(
                f"input_shape {'x'.join(str(d) if d.bit_length() <= 64 else huge_text(d) for d in shape)} "
                f"holds {huge_text(values) if values.bit_length() > 64 else f'{values:,}'} values per sample; "
                "a tensor holds at most 2**63-1"
            )
    return shape


class LayerSpec(BaseModel):
    """One layer: `type` plus that constructor's keyword arguments; composites carry a `layers` body."""

    model_config = ConfigDict(extra="allow")
    type: str
    layers: list[LayerSpec] | None = None

    @property
    def params(self) -> dict[str, Any]:
        """The constructor keyword arguments (everything but `type` and `layers`)."""
        return dict(self.model_extra or {})

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format_version: int = FORMAT_VERSION
    input_shape: list[int] = Field(default_factory=lambda: [1, 8, 8])
    layers: list[LayerSpec] = Field(default_factory=list)

    @field_validator("format_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v > FORMAT_VERSION:
            raise ValueError(
                f"format_version {v} is newer than this Workbench understands ({FORMAT_VERSION}); "
                "update Workbench"
            )
        if v < 1:
            raise ValueError("format_version must be 1 or more")
        return v

    @field_validator("input_shape", mode="before")
    @classmethod
    def _no_bools(cls, v: Any) -> Any:
        if isinstance(v, list) and any(isinstance(d, bool) for d in v):
            raise ValueError(f"input_shape must be whole numbers, not {v}")
        return v

    @field_validator("input_shape")
    @classmethod
    def _positive_shape(cls, v: list[int]) -> list[int]:
        return check_input_shape(v)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


# -- files ---------------------------------------------------------------------------------------------------
def spec_from_dict(doc: Any, source: str = "model spec") -> ModelSpec:
    """Validate a spec document; every problem becomes a UserError that names `source` and the field."""
    from pydantic import ValidationError

    from workbench.core.errors import UserError, describe_validation_error

    if not isinstance(doc, dict):
        raise UserError(
            f"{source} must be a JSON object with input_shape and layers, not {type(doc).__name__}"
        )
    version = doc.get("format_version", FORMAT_VERSION)
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise UserError(
            f"{source} is format_version {version}, newer than this Workbench ({FORMAT_VERSION}); "
            "update Workbench to open it"
        )
    try:
        return ModelSpec.model_validate(doc)
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc, f"{source} is not a valid model spec")) from exc


def load_spec(path) -> ModelSpec:
    """A spec `.json` file, or the model of a `.wbproj` project."""
    from pathlib import Path

    from workbench.core.io import read_json

    path = Path(path)
    if path.suffix == ".wbproj":
        from workbench.core.project import load_project

        return load_project(path).model
    return spec_from_dict(read_json(path, "model spec"), f"model spec {path}")


def save_spec(spec: ModelSpec, path) -> None:
    from workbench.core.io import atomic_write_json

    atomic_write_json(path, spec.to_dict())
