"""Model builder > Import: replace the network with a model made elsewhere (a Hugging Face folder or an ONNX file),
as one undoable edit. Only files are read here (config.json as JSON, the weights' sha256 on a thread); torch and
transformers build and analyze it in the trainer process, whose analysis names any remaining problem. A CSV text
dataset switches to the model's own tokenizer."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from workbench.core.errors import UserError
from workbench.core.model.spec import ModelSpec
from workbench.ui.jobs import ThreadJob


def import_menu(panel) -> QMenu:
    menu = QMenu(panel)
    menu.setObjectName("importModelMenu")
    hf = menu.addAction("Hugging Face folder…", lambda: _pick(panel, "huggingface"))
    hf.setObjectName("importHuggingFaceAction")
    onnx = menu.addAction("ONNX file…", lambda: _pick(panel, "onnx"))
    onnx.setObjectName("importOnnxAction")
    return menu


def _pick(panel, fmt: str) -> None:
    if fmt == "huggingface":
        source = QFileDialog.getExistingDirectory(panel, "Import a Hugging Face model folder")
    else:
        source, _ = QFileDialog.getOpenFileName(panel, "Import an ONNX model", "", "ONNX models (*.onnx)")
    if source:
        import_source(panel, fmt, source)


def import_source(panel, fmt: str, source: str) -> ThreadJob | None:
    """Check `source` (files only), hash its weights on a thread, then replace the network with it."""
    from workbench.core.model import pretrained

    path = str(Path(source).expanduser().resolve())
    try:
        if fmt == "huggingface":
            pretrained.check_hf_files(path)
        elif not Path(path).is_file():
            raise UserError(f"{path} does not exist")
    except UserError as exc:
        QMessageBox.warning(panel, "Cannot import this model", str(exc))
        return None

    def work():
        yield pretrained.source_sha256(fmt, path)

    job = ThreadJob("import", work)
    job.sig_events.connect(lambda events: _apply(panel, fmt, path, events[-1]))
    job.sig_done.connect(
        lambda error: (
            error is not None and QMessageBox.warning(panel, "Cannot import this model", error.message)
        )
    )
    panel.session.jobs.start(job)
    panel.session.sig_status.emit(f"Importing {path}…")
    return job


def _apply(panel, fmt: str, path: str, sha256: str) -> None:
    meta = panel.meta
    classes = 2
    if meta is not None:
        classes = meta.num_classes if meta.task == "classification" and meta.num_classes else 1
    layer = {"type": "Pretrained", "format": fmt, "source": path, "sha256": sha256, "num_classes": classes}
    after = ModelSpec(input_shape=list(panel.spec.input_shape), layers=[layer])
    session = panel.session
    dataset = session.project.dataset
    if fmt == "huggingface" and dataset.kind == "csv" and dataset.options.get("pretrained_tokenizer") != path:
        session.update_dataset(
            dataset.model_copy(update={"options": {**dataset.options, "pretrained_tokenizer": path}})
        )
    panel.edit(after, f"Import {Path(path).name}", select=(0,))
    panel.network_tabs.setCurrentWidget(panel.pretrained_view)
    session.sig_status.emit(f"Imported {path}; the builder analyzes it in the trainer process")
