"""Export choices remembered per project."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ExportFormat = Literal[
    "onnx", "onnx-fp16", "onnx-int8-dynamic", "onnx-int8-static", "torchscript", "safetensors"
]


class ExportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: str = "onnx"  # an ExportFormat, or a format a plugin registered
    opset: int = Field(18, ge=7, le=30)
    calibration_samples: int = Field(256, ge=1)
    calibration_method: Literal["minmax", "entropy", "percentile"] = "minmax"
    source: Literal["current", "best", "last"] = "best"
    destination: str | None = None
    verify_samples: int = Field(1000, ge=8, le=100_000)  # validation samples for parity and accuracy
    keep_io_float32: bool = True  # fp16: keep inputs / outputs float32
    # int8 static: the largest accuracy drop (points, on the validation split) the user accepts; the most
    # sensitive nodes stay in fp32 until it is met. None: no budget (judged by top-1 agreement instead).
    max_accuracy_drop: float | None = Field(None, ge=0, le=100, allow_inf_nan=False)
    max_fp32_nodes: int | None = Field(
        None, ge=0
    )  # at most this many nodes kept in fp32 (None: half of them)
