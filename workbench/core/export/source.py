"""What is exported: a model (weights + spec) and, where known, the dataset it was trained on.

A run folder or checkpoint carries its spec and (from the trainer) the dataset settings in its metadata;
a run folder's `config.json` holds them too. The dataset is loaded lazily, only for calibration and accuracy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from workbench.core.data.settings import DatasetSettings
from workbench.core.errors import UserError
from workbench.core.model.spec import ModelSpec

if TYPE_CHECKING:
    import torch

    from workbench.core.data.dataset import DataBundle


@dataclass
class ExportSource:
    model: torch.nn.Module  # on the CPU, in eval mode
    input_shape: tuple[int, ...]  # without the batch dimension
    label: str  # "run 3 (best checkpoint)", "current model (untrained)" ...
    spec: ModelSpec | None = None
    trained: bool = True
    dataset: DatasetSettings | None = None
    path: Path | None = None  # the checkpoint file, when there is one
    meta: dict[str, Any] = field(default_factory=dict)
    data: DataBundle | None = None  # an already loaded dataset (the GUI's), else loaded on demand
    data_error: str | None = None  # why the dataset could not be loaded

    @property
    def input_dtype(self) -> str:
        if self.data is not None:
            return self.data.meta.input_dtype
        for key in ("dataset", "dataset_meta"):
            value = self.meta.get(key)
            if isinstance(value, dict) and "input_dtype" in value:
                return str(value["input_dtype"])
        if self.spec is not None and self.spec.layers:  # no data: a network that starts with an Embedding
            from workbench.core.model.registry import get_layer_type

            if get_layer_type(self.spec.layers[0].type).token_input:
                return "int64"
        return "float32"

    def bundle(self) -> DataBundle | None:
        """The dataset (loaded once); None with `data_error` set when it cannot be had."""
        if self.data is None and self.dataset is not None and self.data_error is None:
            from workbench.core.data import load_dataset

            try:
                self.data = load_dataset(self.dataset)
                self._check_tokenizer()
            except UserError as exc:
                self.data = None
                self.data_error = str(exc)
            except Exception as exc:  # noqa: BLE001 - a broken dataset must not stop the export itself
                self.data_error = f"{type(exc).__name__}: {exc}"
        elif self.data is None and self.dataset is None and self.data_error is None:
            self.data_error = "the source does not say which dataset it was trained on"
        return self.data

    def _check_tokenizer(self) -> None:
        """Text data whose tokenizer is not the one the model was trained with gives it ids that mean other
        words: no calibration or accuracy on it (UserError, kept as data_error)."""
        from workbench.core.data.text import tokenizer_mismatch

        trained = (self.meta.get("dataset") or {}).get("extra") or {}
        differs = tokenizer_mismatch(trained, self.data.meta.extra) if self.data is not None else None
        if differs:
            raise UserError(f"the model {differs}")


def source_from_model(
    model: torch.nn.Module,
    input_shape,
    label: str = "model",
    *,
    spec: ModelSpec | None = None,
    trained: bool = True,
    data: DataBundle | None = None,
    dataset: DatasetSettings | None = None,
) -> ExportSource:
    """Any nn.Module (a torchvision backbone, a plugin's model): architecture and weights as they are."""
    return ExportSource(
        model.cpu().eval(),
        tuple(int(d) for d in input_shape),
        label,
        spec=spec,
        trained=trained,
        data=data,
        dataset=dataset,
    )


def source_from_spec(
    spec: ModelSpec, *, data: DataBundle | None = None, dataset: DatasetSettings | None = None, seed: int = 0
) -> ExportSource:
    """The builder's current model: freshly initialised weights (untrained; the report warns)."""
    import torch

    from workbench.core.model.build import build_model

    torch.manual_seed(seed)
    model = build_model(spec)
    return ExportSource(
        model.cpu().eval(),
        tuple(spec.input_shape),
        "current model (untrained weights)",
        spec=spec,
        trained=False,
        data=data,
        dataset=dataset,
    )


def source_from_checkpoint(
    source: str | os.PathLike, which: str = "best", *, data: DataBundle | None = None
) -> ExportSource:
    """A checkpoint file, or a run folder (its `which` = best / last checkpoint, falling back to the other)."""
    from workbench.core.training.checkpoints import load_checkpoint

    source = Path(source)
    target = source
    if source.is_dir():
        order = ("best", "last") if which != "last" else ("last", "best")
        for name in order:
            candidate = source / "checkpoints" / f"{name}.safetensors"
            if candidate.is_file():
                target = candidate
                break
    checkpoint = load_checkpoint(target)
    model = checkpoint.build_model()  # names the tensor that does not match the spec
    run_dir = _run_dir_of(checkpoint.path or target)
    dataset = _dataset_settings(checkpoint.meta, run_dir)
    label = _label(checkpoint.path or target, run_dir, checkpoint.meta)
    return ExportSource(
        model.cpu().eval(),
        tuple(checkpoint.spec.input_shape),
        label,
        spec=checkpoint.spec,
        trained=_looks_trained(checkpoint.meta),
        dataset=dataset,
        path=checkpoint.path,
        meta=checkpoint.meta,
        data=data,
    )


def _run_dir_of(checkpoint_path: Path) -> Path | None:
    parent = checkpoint_path.resolve().parent
    return parent.parent if parent.name == "checkpoints" else None


def _label(path: Path, run_dir: Path | None, meta: dict) -> str:
    epoch = meta.get("epoch")
    where = f"run {run_dir.name}, {path.stem} checkpoint" if run_dir else f"checkpoint {path.name}"
    return where + (f" (epoch {epoch})" if isinstance(epoch, int) else "")


def _looks_trained(meta: dict) -> bool:
    """False only when the metadata says so (epoch 0 / no steps); the report also flags chance accuracy."""
    for key in ("epoch", "epochs_completed", "step"):
        if isinstance(meta.get(key), int) and not isinstance(meta.get(key), bool):
            return meta[key] > 0
    return True


def _dataset_settings(meta: dict, run_dir: Path | None) -> DatasetSettings | None:
    """Read defensively: the checkpoint's metadata first, then the run folder's config.json."""
    candidates: list[Any] = [meta.get(k) for k in ("dataset_settings", "dataset", "data")]
    project = meta.get("project")
    if isinstance(project, dict):
        candidates.append(project.get("dataset"))
    base = run_dir.parent.parent if run_dir is not None else None  # runs/<id> -> the project folder
    if run_dir is not None and (run_dir / "config.json").is_file():
        from workbench.core.io import read_json

        try:
            config = read_json(run_dir / "config.json", "run config")
        except UserError:
            config = {}
        if isinstance(config, dict):
            candidates += [
                config.get("dataset"),
                config.get("dataset_settings"),
                (config.get("project") or {}).get("dataset")
                if isinstance(config.get("project"), dict)
                else None,
            ]
            if isinstance(config.get("project_path"), str):
                base = Path(config["project_path"]).parent
    for candidate in candidates:
        if isinstance(candidate, dict):
            try:
                settings = DatasetSettings.model_validate(candidate)
            except ValidationError:
                continue
            return _resolve_relative(settings, base)
    return None


def _resolve_relative(settings: DatasetSettings, base: Path | None) -> DatasetSettings:
    """A relative data path in a project is relative to the project folder."""
    if base is None or settings.source == "digits" or Path(settings.source).is_absolute():
        return settings
    candidate = base / settings.source
    if candidate.exists() and not Path(settings.source).exists():
        return settings.model_copy(update={"source": str(candidate)})
    return settings
