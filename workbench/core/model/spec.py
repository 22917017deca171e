"""The model spec document (CONTRACT section 2): layers named as in torch.nn, their kwargs beside `type`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

FORMAT_VERSION = 1


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
            raise ValueError(f"format_version {v} is newer than this Workbench understands ({FORMAT_VERSION}); "
                             "update Workbench")
        if v < 1:
            raise ValueError("format_version must be 1 or more")
        return v

    @field_validator("input_shape")
    @classmethod
    def _positive_shape(cls, v: list[int]) -> list[int]:
        if not v or any(d <= 0 for d in v):
            raise ValueError(f"input_shape must be positive sizes without the batch dimension, got {v}")
        return v

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)
