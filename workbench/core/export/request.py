"""What the export wizard asks for, turned into a core export generator. The GUI sends it to the trainer process
as plain data (`to_dict` / `from_dict`), so torch, onnx and onnxruntime load there, never in the GUI."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.export.settings import ExportSettings


@dataclass(frozen=True)
class ExportRequest:
    source: str  # "current" | "best" | "last"
    run: Path | None  # the run folder for best / last
    settings: ExportSettings
    destination: Path
    spec: Any = None  # the builder's ModelSpec for "current"
    data: Any = None  # the session's loaded DataBundle (reused when it matches)
    dataset: Any = None  # the session's DatasetSettings

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the trainer process (the data itself stays behind: that process has its own)."""
        return {
            "source": self.source,
            "run": str(self.run) if self.run else None,
            "settings": self.settings.model_dump(mode="json"),
            "destination": str(self.destination),
            "spec": self.spec.to_dict() if self.spec is not None else None,
            "dataset": self.dataset.model_dump(mode="json") if self.dataset is not None else None,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any], data: Any = None) -> ExportRequest:
        from workbench.core.data.settings import DatasetSettings
        from workbench.core.model.spec import ModelSpec

        return cls(
            doc["source"],
            Path(doc["run"]) if doc["run"] else None,
            ExportSettings.model_validate(doc["settings"]),
            Path(doc["destination"]),
            spec=ModelSpec.model_validate(doc["spec"]) if doc["spec"] is not None else None,
            data=data,
            dataset=DatasetSettings.model_validate(doc["dataset"]) if doc["dataset"] is not None else None,
        )

    def describe(self) -> str:
        if self.source == "current" or self.run is None:
            return "the current model in the builder (untrained weights)"
        return f"run {self.run.name}, {self.source} checkpoint"


def export_events(request: ExportRequest, cancel) -> Iterator[Any]:
    from workbench.core.export.pipeline import ExportProgress, run_export
    from workbench.core.export.source import source_from_checkpoint, source_from_spec

    yield ExportProgress("prepare", 0.0, f"Loading {request.describe()}...")
    if request.source == "current" or request.run is None:
        source = source_from_spec(request.spec, data=request.data, dataset=request.dataset)
    else:
        source = source_from_checkpoint(request.run, request.source)
        if request.data is not None and source.dataset is not None and source.dataset == request.dataset:
            source.data = request.data  # the dataset the GUI already holds: no second load
    # a failed verification is held for the user to keep or discard (the report page offers both)
    yield from run_export(source, request.settings, request.destination, cancel, on_failure="hold")


def default_destination(runs_dir: Path | None, run: Path | None, source: str, suffix: str, fmt: str) -> Path:
    """<project>/exports/<run id>-<checkpoint>-<format><suffix> (or the user data folder for untitled projects)."""
    if runs_dir is not None:
        folder = runs_dir.parent / "exports"
    else:
        from workbench.core.paths import user_data_dir

        folder = user_data_dir() / "exports"
    stem = f"{run.name}-{source}" if run is not None and source != "current" else "current-model"
    return folder / f"{stem}-{fmt}{suffix}"
