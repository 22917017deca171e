"""Every file Workbench writes is written atomically (temp file beside it, fsync, rename): project, autosave,
checkpoints, optimizer state, config, summary, run lock, exports and their reports, plot exports, plugin settings.

An audit reads Workbench's source for every call that writes a file and fails on any that does not go through
workbench.core.io, unless it is listed below with the reason it is safe. Then the core writers are shown to
leave the previous file intact when the write fails half-way."""

from __future__ import annotations

import ast
import errno
import os
from pathlib import Path

import pytest

import workbench
from workbench.core.errors import UserError
from workbench.core.io import atomic_open, atomic_replace_with, atomic_write_json

PACKAGE = Path(workbench.__file__).parent
WRITERS = {
    "write_text",
    "write_bytes",
    "copyfile",
    "copy",
    "copy2",
    "copytree",
    "save",
    "savez",
    "savez_compressed",
    "save_model",
    "save_file",
    "export",
    "quantize_dynamic",
    "quantize_static",
    "dump",
}
ALLOWED = {
    # the atomic writers themselves
    ("core/io.py", "os.fdopen"): "atomic_open: the temp file from mkstemp",
    ("core/io.py", "os.open"): "atomic_replace_with: reopens the temp file to fsync it",
    # an append-only log: each line is flushed whole; readers skip a half-written last line
    # (test_crash_safety)
    ("core/training/runs.py", "open"): "metrics.jsonl, append-only",
    # TensorBoard event files: whole records, flushed; TensorBoard skips a half-written last record; export writes
    # a temp name without 'tfevents' and renames it into place
    ("core/training/tensorboard.py", "open"): "tb/ event file, append-only records",
    # called inside atomic_replace_with (checkpoints) or on the export's work path, renamed onto the target
    ("core/training/checkpoints.py", "save_file"): "inside atomic_replace_all",
    ("core/export/torch_formats.py", "save_file"): "writes job.work_path in the export's temp folder",
    ("core/export/torch_formats.py", "torch.jit.save"): "writes job.work_path in the export's temp folder",
    (
        "core/export/torch_formats.py",
        "job.work_path.write_bytes",
    ): "writes job.work_path in the export's temp folder (a full disk: run_export's one message)",
    ("core/export/onnx_formats.py", "onnx.save_model"): "writes job.work_path in the export's temp folder",
    (
        "core/export/onnx_formats.py",
        "torch.onnx.export",
    ): "work path in the export's temp folder (or BytesIO)",
    ("core/export/onnx_formats.py", "quantize_dynamic"): "writes job.work_path in the export's temp folder",
    ("core/export/onnx_formats.py", "quantize_static"): "writes job.work_path in the export's temp folder",
    ("ui/widgets/live_plot.py", "image.save"): "inside atomic_replace_with",
    ("core/export/adapters_format.py", "save_file"): "writes job.work_path in the export's temp folder",
    ("core/model/pretrained.py", "torch.onnx.export"): "traces into a TemporaryDirectory, copied atomically",
    ("core/model/pretrained.py", "shutil.copyfile"): "inside atomic_replace_with",
    ("ui/panels/builder/diagram.py", "image.save"): "inside atomic_replace_with",
    ("core/project_files.py", "os.open"): "FollowedFolder: a read-only descriptor of a folder, never written",
    (
        "core/project_files.py",
        "shutil.copytree",
    ): "Save As copies a run into a hidden folder, renamed into place",
    ("ui/panels/builder/diagram_paint.py", "p.save"): "QPainter.save (the painter's state), not a file",
    ("cli_process.py", "open"): "the CLI's own stdout descriptor and os.devnull, never a file on disk",
    # not the application's documents
    (
        "core/data/synthetic.py",
        "path.write_bytes",
    ): "generates sample datasets for demos, screenshots and tests",
    ("core/data/synthetic.py", "open"): "generates sample datasets for demos, screenshots and tests",
    (
        "core/data/synthetic.py",
        "pickle.dump",
    ): "writes a CIFAR-layout sample set (never read back unrestricted)",
    ("core/data/synthetic.py", "img.convert(mode).save"): "generates sample image folders",
    (
        "core/scriptgen/train_parts.py",
        "save_file",
    ): "copied into generated standalone scripts (tmp + os.replace)",
    ("core/scriptgen/train_parts.py", "torch.save"): "copied into generated standalone scripts",
    (
        "core/scriptgen/train_parts.py",
        "path.with_name('spec.json').write_text",
    ): "generated standalone scripts",
    ("core/scriptgen/train_parts.py", "out_dir / 'summary.json'.write_text"): "generated standalone scripts",
}
SCREENSHOT_TOOLS = (
    "screenshot",
    "__main__.py",
    "plugins_dialog.py",
)  # developer tools writing PNGs of panels


def file_writes(source: str) -> list[tuple[str, int]]:
    """(call, line) for each call in `source` that writes a file other than through workbench.core.io."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        receiver = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
        call = f"{receiver}.{name}" if receiver else name
        if name in ("open", "fdopen"):
            mode = (
                node.args[1]
                if len(node.args) > 1
                else next((k.value for k in node.keywords if k.arg in ("mode", "flags")), None)
            )
            text = mode.value if isinstance(mode, ast.Constant) else "?" if mode is not None else "r"
            if not isinstance(text, str) or any(c in text for c in "wax+?"):
                found.append((call, node.lineno))
        elif name in WRITERS and receiver not in ("self", "self.session", "window", "dataclasses"):
            if name == "copy" and receiver not in ("shutil",):
                continue
            found.append((call, node.lineno))
    return found


def test_every_writer_is_atomic_or_listed_with_a_reason():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(PACKAGE))
        if any(tool in rel for tool in SCREENSHOT_TOOLS) or rel == "ui/screenshots.py":
            continue
        for call, line in file_writes(path.read_text(encoding="utf-8")):
            if (rel, call) not in ALLOWED:
                problems.append(f"workbench/{rel}:{line}: {call}")
    assert not problems, (
        "files written without workbench.core.io (use atomic_write_* / atomic_replace_with, "
        "or list the call in ALLOWED with the reason it is safe):\n" + "\n".join(problems)
    )


@pytest.mark.parametrize(
    "snippet",
    [
        "Path(p).write_text('x')",
        "open(p, 'w')",
        "shutil.copyfile(a, b)",
        "torch.save(state, p)",
        "json.dump(obj, fh)",
        "open(p, mode='ab')",
    ],
)
def test_the_audit_sees_plain_writes(snippet):
    assert len(file_writes(snippet)) == 1


def test_the_audit_ignores_reads():
    assert file_writes("open(p)\nopen(p, 'rb')\nPath(p).read_text()\nx.copy()\ns.replace('a', 'b')") == []


# -- the writers keep the old file when a write fails half-way
# ------------------------------------------------------
def test_atomic_open_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "doc.json"
    atomic_write_json(target, {"v": 1})
    old = target.read_bytes()
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write('{"v": 2, "half')
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == old and sorted(p.name for p in tmp_path.iterdir()) == ["doc.json"]


def test_atomic_replace_keeps_the_old_file_when_the_library_fails(tmp_path):
    target = tmp_path / "w.bin"
    target.write_bytes(b"old weights")

    def half_then_fail(tmp):
        Path(tmp).write_bytes(b"new wei")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(UserError, match="No space left on device"):
        atomic_replace_with(target, half_then_fail)
    assert target.read_bytes() == b"old weights" and sorted(p.name for p in tmp_path.iterdir()) == ["w.bin"]


def test_plot_png_export_is_atomic(qtbot, tmp_path, monkeypatch):
    from PySide6.QtGui import QPixmap

    from workbench.ui.widgets.live_plot import LivePlot

    plot = LivePlot("loss")
    qtbot.addWidget(plot)
    target = tmp_path / "loss.png"
    target.write_bytes(b"previous export")
    monkeypatch.setattr(QPixmap, "save", lambda self, *args, **kwargs: False)  # the encoder fails
    with pytest.raises(UserError, match="cannot write"):
        plot.export_png(target)
    assert target.read_bytes() == b"previous export" and [p.name for p in tmp_path.iterdir()] == ["loss.png"]
    monkeypatch.undo()
    plot.export_png(target)
    assert target.read_bytes().startswith(b"\x89PNG")
