"""A model spec around a model made elsewhere, sized to a dataset: `workbench project new --pretrained SOURCE`
and the GUI's File > New project from a model both come here (docs/pretrained.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.core.errors import UserError
from workbench.core.model.spec import ModelSpec

IMPORT_FOLDER = "pretrained"  # beside the project: the ONNX graphs of imported PyTorch modules


def tokenizer_option(source: str, kind: str) -> dict[str, Any]:
    """The data option that makes a CSV text column use a Hugging Face model's own tokenizer."""
    from workbench.core.model.pretrained import detect_format

    if kind == "csv" and detect_format(source) == "huggingface":
        return {"pretrained_tokenizer": str(Path(source).expanduser().resolve())}
    return {}


def pretrained_spec(meta, source: str, project_dir: str | Path) -> tuple[ModelSpec, str, list[Path]]:
    """(spec, note, files written). A PyTorch module (`file.py:ClassName`) is run once here and kept as
    `<project_dir>/pretrained/<ClassName>.onnx`; every other source is only read. On any error the files
    this wrote are removed and UserError says why."""
    from workbench.core.model import pretrained

    fmt = pretrained.detect_format(source)
    classes = meta.num_classes if meta.task == "classification" else 1
    written: list[Path] = []
    origin = ""
    if fmt == "module":
        origin = source
        target = pretrained.import_module_file(
            source, list(meta.input_shape), Path(project_dir) / IMPORT_FOLDER
        )
        written.append(target)
        path = str(target.resolve())
        note = f"module {source} (its code ran once, now kept as the ONNX graph {target})"
    else:
        path = str(Path(source).expanduser().resolve())
        if fmt == "huggingface":
            pretrained.read_hf_config(path)
        else:
            pretrained.load_onnx(path)
        note = f"{fmt} model {path}"
    try:
        layer = {
            "type": "Pretrained",
            "format": fmt,
            "source": path,
            "sha256": pretrained.source_sha256(fmt, path),
            "num_classes": classes,
        }
        if origin:
            layer["origin"] = origin
        spec = _fitted(ModelSpec(input_shape=list(meta.input_shape), layers=[layer]), meta, classes, fmt)
    except Exception:
        for file in written:
            file.unlink(missing_ok=True)
        raise
    return spec, note, written


def _fitted(spec: ModelSpec, meta, classes: int, fmt: str) -> ModelSpec:
    """The spec checked against the data; a graph that does not end in a Linear keeps its outputs and gets a
    Linear head after it."""
    from workbench.core.model.analysis import analyze

    dtype = meta.input_dtype
    result = analyze(spec, input_dtype=dtype)
    if not result.ok and fmt != "huggingface" and "does not end in a Linear" in (result.error or ""):
        layer = dict(spec.layers[0].to_dict(), num_classes=0)
        head: list[dict] = [{"type": "Linear", "out_features": classes}]
        kept = analyze(ModelSpec(input_shape=spec.input_shape, layers=[layer]), input_dtype=dtype)
        if kept.ok and kept.output_shape is not None and len(kept.output_shape) > 1:
            head.insert(0, {"type": "Flatten"})
        spec = ModelSpec(input_shape=spec.input_shape, layers=[layer, *head])
        result = analyze(spec, input_dtype=dtype)
    if not result.ok:
        raise UserError(f"the imported model does not fit the data: {result.error}")
    return spec


def new_project_job(
    control,
    model_source: str,
    data_source: str,
    project_dir: str,
    kind: str | None = None,
    target: str | None = None,
    project_name: str = "imported",
):
    """Trainer-process job for File > New project from a model: the data read, the model imported and sized to
    it; yields one dict {"project": the Project as JSON, "note"}. A module's code runs here, once."""
    from workbench.core.data import load_dataset
    from workbench.core.data.inspect import settings_for
    from workbench.core.project import Project

    source = str(Path(data_source).expanduser().resolve()) if data_source.lower() != "digits" else "digits"
    detected = settings_for(source, kind, target, {}).kind
    settings = settings_for(source, kind, target, tokenizer_option(model_source, detected))
    data = load_dataset(settings)
    spec, note, _written = pretrained_spec(data.meta, model_source, project_dir)
    project = Project(name=project_name, dataset=settings, model=spec)
    yield {"project": project.model_dump(mode="json"), "note": note}


def import_module_job(control, target: str, input_shape: list[int], project_dir: str):
    """Trainer-process job for Model builder > Import > PyTorch module: `file.py:ClassName` runs once, here,
    and is kept as `<project_dir>/pretrained/<ClassName>.onnx`; yields {"source", "sha256"}."""
    from workbench.core.model import pretrained

    path = pretrained.import_module_file(target, input_shape, Path(project_dir) / IMPORT_FOLDER)
    yield {"source": str(path.resolve()), "sha256": pretrained.source_sha256("module", str(path))}
