"""Model builder > Import: replace the network with a model made elsewhere (a Hugging Face folder, an ONNX file, or
a PyTorch module traced once in the trainer process after the user agrees to run its file), as one undoable edit.
Only files are read here (config.json as JSON, the weights' sha256 on a thread); torch and transformers build and
analyze it in the trainer process, whose analysis names any remaining problem. A CSV text dataset switches to the
model's own tokenizer."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu, QMessageBox

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
    module = menu.addAction("PyTorch module (.py)…", lambda: _pick_module(panel))
    module.setObjectName("importModuleAction")
    return menu


def _pick_module(panel) -> None:
    file, _ = QFileDialog.getOpenFileName(panel, "Import a PyTorch module", "", "Python files (*.py)")
    if not file:
        return
    name, ok = QInputDialog.getText(
        panel, "Import a PyTorch module", f"The nn.Module class in {Path(file).name}:"
    )
    if not ok or not name.strip():
        return
    answer = QMessageBox.question(
        panel,
        "Run this file?",
        f"Importing runs the code in {file} once (in the trainer process) to trace {name.strip()}(); the project "
        "then keeps only the traced graph and weights (ONNX), never the code. Run it?",
    )
    if answer == QMessageBox.StandardButton.Yes:
        import_module(panel, f"{file}:{name.strip()}")


def import_module(panel, target: str):
    """Trace `file.py:ClassName` in the trainer process (its code runs there, once), then use its graph."""
    folder = panel.session.runs_dir.parent  # beside the project (an unsaved one: its untitled folder)
    job = panel.session.jobs.job(
        "import",
        "import_module",
        target=target,
        input_shape=list(panel.spec.input_shape),
        project_dir=str(folder),
    )
    job.sig_events.connect(lambda events: _apply(panel, "module", events[-1]["source"], events[-1]["sha256"]))
    job.sig_done.connect(
        lambda error: (
            error is not None and QMessageBox.warning(panel, "Cannot import this module", error.message)
        )
    )
    panel.session.jobs.start(job)
    panel.session.sig_status.emit(f"Tracing {target} in the trainer process…")
    return job


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
