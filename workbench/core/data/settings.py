"""The dataset part of a project: which source, how it is split and transformed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SplitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    train: float = Field(0.7, gt=0, le=1, allow_inf_nan=False)
    val: float = Field(0.15, ge=0, lt=1, allow_inf_nan=False)
    test: float = Field(0.15, ge=0, lt=1, allow_inf_nan=False)
    seed: int = Field(0, ge=0, le=2**32 - 1)

    @model_validator(mode="after")
    def _sums_to_one(self):
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + val + test must add up to 1 (100%), got {total:.3f}")
        return self


class DatasetSettings(BaseModel):
    """`kind` picks the source; `source` is a path (or `digits`). `options` holds the kind's own settings."""

    model_config = ConfigDict(extra="forbid")
    kind: str = "digits"
    source: str = "digits"
    target: str | None = None
    val_source: str | None = None
    split: SplitSettings = Field(default_factory=SplitSettings)
    options: dict[str, Any] = Field(default_factory=dict)
