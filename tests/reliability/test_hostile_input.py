"""Hostile input and faults, one test per class of fault: outputs over inputs, special files, links out of the
dataset, sizes declared beyond what a file holds, values that are not finite or out of range, documents beyond
the loader's limits, a hanging plugin, an inconsistent resume, code injection into generated files, a
`numpy.py` in the current folder, a full disk under TorchScript export. Each case: exit 2, one `error:` line
that says what is wrong, nothing on disk changed."""

from __future__ import annotations

import ast
import json
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from reliability_helpers import MLP, assert_cli_error, assert_unchanged, disk_state, run_cli, write_project

from workbench.core.errors import UserError


@contextmanager
def deadline(seconds: int = 20):
    """Fail (instead of hanging the suite) when the body blocks, e.g. on a FIFO."""

    def expired(signum, frame):
        raise TimeoutError(f"blocked for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _png(path: Path, seed: int = 0, size: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(path)
    return path


def _image_folder(root: Path, classes=("cat", "dog"), per_class: int = 4) -> Path:
    for c in classes:
        for i in range(per_class):
            _png(root / c / f"{i}.png", seed=i)
    return root


# -- 1. outputs never overwrite inputs
# ---------------------------------------------------------------------------


def _overwrite_cases(project: Path, run: Path, tmp: Path):
    best = run / "checkpoints" / "best.safetensors"
    link = tmp / "link.onnx"
    link.symlink_to(best)
    spec = tmp / "spec.json"
    spec.write_text(json.dumps(MLP), encoding="utf-8")
    return {
        "export over its checkpoint": ["export", run, "-o", best],
        "export over a link to the checkpoint": ["export", run, "-o", link],
        "export into the checkpoints folder": ["export", run, "-o", run / "checkpoints" / "model.onnx"],
        "export over the project file": [
            "export",
            run,
            "-o",
            project.with_suffix(".onnx").with_name(project.name),
        ],
        "export over the run's config": ["export", best, "-o", run / "config.json"],
        "export --report equal to -o": ["export", run, "-o", tmp / "m.onnx", "--report", tmp / "m.onnx"],
        "model code over its project": ["model", "code", project, "-o", project],
        "model code over its spec": ["model", "code", spec, "-o", spec],
        "project script over its project": ["project", "script", project, "-o", project],
        "project new over its model spec": [
            "project",
            "new",
            project,
            "--data",
            "digits",
            "--model",
            project,
            "--force",
        ],
        "train --run-dir in a run's checkpoints": [
            "train",
            project,
            "--run-dir",
            run / "checkpoints" / "next",
        ],
    }


CASES = (
    "export over its checkpoint",
    "export over a link to the checkpoint",
    "export into the checkpoints folder",
    "export over the project file",
    "export over the run's config",
    "export --report equal to -o",
    "model code over its project",
    "model code over its spec",
    "project script over its project",
    "project new over its model spec",
    "train --run-dir in a run's checkpoints",
)


@pytest.mark.parametrize("case", CASES)
def test_outputs_never_overwrite_inputs(case, project_copy, run_dir, tmp_path, capsys):
    argv = _overwrite_cases(project_copy, run_dir, tmp_path)[case]
    line = assert_cli_error(argv, capsys, ["refusing to write"], [project_copy.parent, tmp_path])
    assert "choose another" in line or "give each output" in line


# -- 2. special files (FIFOs) are never opened for reading
# ---------------------------------------------------------


def test_fifos_never_block_a_read(tmp_path, capsys):
    fifos = tmp_path / "fifos"
    fifos.mkdir()
    for name in ("p.wbproj", "d.csv", "a.npz", "spec.json", "c.safetensors"):
        os.mkfifo(fifos / name)
    cases = [
        (["train", fifos / "p.wbproj"], "not a regular file"),
        (["model", "check", fifos / "spec.json"], "not a regular file"),
        (["data", "inspect", fifos / "d.csv", "--kind", "csv"], "not a regular file"),
        (["data", "inspect", fifos / "a.npz", "--kind", "npz"], "not a regular file"),
        (["export", fifos / "c.safetensors", "-o", tmp_path / "m.onnx"], "not a regular file"),
    ]
    with deadline():
        for argv, fragment in cases:
            assert_cli_error(argv, capsys, [fragment, str(fifos)], [tmp_path])
        root = _image_folder(tmp_path / "images")
        os.mkfifo(root / "cat" / "x.png")  # inside an otherwise good folder: skipped and listed
        before = disk_state(tmp_path)
        code, out, err = run_cli(["data", "inspect", root, "--json"], capsys)
        assert code == 0, err
        skipped = json.loads(out)["skipped"]
        assert skipped == [
            {"path": str(root / "cat" / "x.png"), "reason": "not a regular file (a FIFO, device or socket)"}
        ]
        assert_unchanged(before, disk_state(tmp_path))


# -- 3. folder walks stay inside the dataset folder
# ----------------------------------------------------------------


def test_links_out_of_the_dataset_folder_are_not_followed(tmp_path, capsys):
    root = _image_folder(tmp_path / "images")
    (root / "everything").symlink_to("/")  # a class folder that is the whole filesystem
    outside = _image_folder(tmp_path / "elsewhere", ("bird",))
    (root / "cat" / "more").symlink_to(outside / "bird")  # a subfolder leading out
    (root / "cat" / "self").symlink_to(root / "cat")  # a loop inside the root: visited once
    with deadline():
        code, out, err = run_cli(["data", "inspect", root, "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["num_samples"] == 8 and report["class_names"] == ["cat", "dog"]
    reasons = {Path(s["path"]).name: s["reason"] for s in report["skipped"]}
    assert "outside the dataset folder" in reasons["everything"] and "outside" in reasons["more"]


def test_a_walk_stops_at_its_limit(tmp_path, monkeypatch, capsys):
    import workbench.core.data.imagefolder as imagefolder

    root = _image_folder(tmp_path / "images", per_class=6)
    monkeypatch.setattr(imagefolder, "MAX_FILES", 5)
    assert_cli_error(["data", "inspect", root], capsys, ["more than 5 files", "the limit"], [tmp_path])


# -- 4. sizes are checked before anything is allocated
# -------------------------------------------------------------


def _forged_png(path: Path, width: int, height: int) -> Path:
    """A valid 8x8 PNG whose header declares width x height (with a correct CRC)."""
    data = bytearray(_png(path).read_bytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def _forged_npz(path: Path) -> Path:
    import io
    import zipfile

    import numpy.lib.format as npf

    head = io.BytesIO()
    npf.write_array_header_1_0(head, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("X.npy", head.getvalue() + b"\0" * 64)
        zf.writestr("y.npy", head.getvalue() + b"\0" * 64)
    return path


class _HugeArray:
    """Pickles as numpy's own array constructor asked for 4000 x 1 MB."""

    def __reduce__(self):
        from numpy._core.multiarray import _reconstruct

        return (_reconstruct, (np.ndarray, (4000,), np.dtype("V1000000")))


def _idx(path: Path, dims: list[int], payload: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    code = 0x08
    head = bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    path.write_bytes(head + b"\0" * payload)


def _size_case(case: str, tmp: Path):
    if case == "npz label 1e9":
        np.savez(tmp / "l.npz", X=np.zeros((2, 4)), y=np.array([0, 1e9]))
        return ["data", "inspect", tmp / "l.npz"], ["1,000,000,001 classes", "limit of 10,000"]
    if case == "npz header larger than the file":
        return ["data", "inspect", _forged_npz(tmp / "f.npz")], [
            "declares shape (1000000, 1000000)",
            "holds only",
        ]
    if case == "cifar batch asking for 4 GB":
        folder = tmp / "cifar-10-batches-py"
        folder.mkdir()
        for name in (
            "data_batch_1",
            "data_batch_2",
            "data_batch_3",
            "data_batch_4",
            "data_batch_5",
            "test_batch",
        ):
            (folder / name).write_bytes(pickle.dumps({b"data": _HugeArray(), b"labels": [0]}, protocol=2))
        (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"a", b"b"]}, protocol=2))
        return ["data", "inspect", tmp, "--kind", "cifar10"], [
            "4,000,000,000 bytes declared",
            "not a cifar-10",
        ]
    if case == "mnist header larger than the file":
        raw = tmp / "MNIST" / "raw"
        _idx(raw / "train-images-idx3-ubyte", [60000, 28, 28], 100)
        _idx(raw / "train-labels-idx1-ubyte", [60000], 100)
        _idx(raw / "t10k-images-idx3-ubyte", [10, 28, 28], 10 * 784)
        _idx(raw / "t10k-labels-idx1-ubyte", [10], 10)
        return ["data", "inspect", tmp, "--kind", "mnist"], ["declares 60000 x 28 x 28", "cut short"]
    if case == "seq_len 1e9":
        (tmp / "t.csv").write_text("text,label\n" + "a b c d,x\ne f g h,y\n" * 5, encoding="utf-8")
        return ["data", "inspect", tmp / "t.csv", "--option", "seq_len=1e9"], ["seq_len", "0..100000"]
    if case == "resize 100000":
        return ["data", "inspect", "digits", "--option", "resize=100000"], ["resize 100000x100000", "1..4096"]
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "npz label 1e9",
        "npz header larger than the file",
        "cifar batch asking for 4 GB",
        "mnist header larger than the file",
        "seq_len 1e9",
        "resize 100000",
    ],
)
def test_declared_sizes_are_checked_before_allocation(case, tmp_path, capsys):
    argv, fragments = _size_case(case, tmp_path)
    assert_cli_error(argv, capsys, fragments, [tmp_path])


def test_an_image_declaring_too_many_pixels_is_skipped_before_decoding(tmp_path, capsys):
    root = _image_folder(tmp_path / "images")
    _forged_png(root / "cat" / "huge.png", 13000, 13000)
    code, out, err = run_cli(["data", "inspect", root, "--json"], capsys)
    assert code == 0, err
    (skipped,) = json.loads(out)["skipped"]
    assert skipped["path"].endswith("huge.png") and "13000x13000" in skipped["reason"]
    assert "limit of 64,000,000 pixels" in skipped["reason"]


def test_mnist_images_and_labels_must_match(tmp_path, capsys):
    raw = tmp_path / "MNIST" / "raw"
    _idx(raw / "train-images-idx3-ubyte", [50, 28, 28], 50 * 784)
    _idx(raw / "train-labels-idx1-ubyte", [40], 40)
    _idx(raw / "t10k-images-idx3-ubyte", [10, 28, 28], 10 * 784)
    _idx(raw / "t10k-labels-idx1-ubyte", [10], 10)
    assert_cli_error(
        ["data", "inspect", tmp_path, "--kind", "mnist"],
        capsys,
        ["holds 50 images", "40 labels", "must match"],
        [tmp_path],
    )


# -- 5. values that are not finite or out of range are named
# ------------------------------------------------------


def _value_case(case: str, tmp: Path):
    if case == "infinite feature in a csv":
        (tmp / "d.csv").write_text("a,b,y\n1,2,x\n3,inf,y\n4,5,x\n6,7,y\n", encoding="utf-8")
        return ["data", "inspect", tmp / "d.csv"], ["column 'b' line 3", "infinite value"]
    if case == "infinite label in a csv":
        (tmp / "d.csv").write_text("a,b,y\n1,2,0\n3,4,inf\n4,5,0\n6,7,1\n", encoding="utf-8")
        return ["data", "inspect", tmp / "d.csv"], ["target column 'y' line 3", "infinite value 'inf'"]
    if case == "empty header row":
        (tmp / "d.csv").write_text(",,\n1,2,0\n3,4,1\n", encoding="utf-8")
        return ["data", "inspect", tmp / "d.csv"], ["line 1", "header row is empty"]
    if case == "two-character delimiter":
        (tmp / "d.csv").write_text("a,b\n1,0\n2,1\n", encoding="utf-8")
        return ["data", "inspect", tmp / "d.csv", "--option", "delimiter=xx"], ["delimiter = 'xx'", "one of"]
    if case == "infinite value in an npz":
        np.savez(tmp / "d.npz", X=np.array([[1, np.inf], [1, 2], [3, 4], [5, 6]]), y=np.array([0, 1, 0, 1]))
        return ["data", "inspect", tmp / "d.npz"], ["x in", "non-finite value inf", "index (0, 1)"]
    if case == "empty npz":
        np.savez(tmp / "d.npz", X=np.zeros((0, 4)), y=np.zeros(0))
        return ["data", "inspect", tmp / "d.npz"], ["holds no samples"]
    if case == ".npy renamed .npz":
        np.save(tmp / "d.npy", np.zeros((4, 4)))
        os.rename(tmp / "d.npy", tmp / "d.npz")
        return ["data", "inspect", tmp / "d.npz"], ["single .npy array", "numpy.savez"]
    if case == "infinite weight decay":
        return ["train", write_project(tmp / "p.wbproj", training={"weight_decay": float("inf")})], [
            "weight_decay",
            "finite",
        ]
    if case == "seed 1e29":
        return ["train", write_project(tmp / "p.wbproj", training={"seed": 10**29})], ["seed", "less than"]
    if case == "rotation 1e9":
        return ["train", write_project(tmp / "p.wbproj", dataset={"options": {"augment_rotation": 1e9}})], [
            "augment_rotation",
            "0..180",
        ]
    if case == "weights_path that is not a weights file":
        (tmp / "passwd.pt").write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
        spec = {
            "input_shape": [3, 32, 32],
            "layers": [
                {
                    "type": "TorchvisionModel",
                    "name": "resnet18",
                    "num_classes": 10,
                    "weights_path": str(tmp / "passwd.pt"),
                }
            ],
        }
        return ["train", write_project(tmp / "p.wbproj", model=spec)], ["not a pytorch weights file"]
    raise AssertionError(case)


VALUE_CASES = (
    "infinite feature in a csv",
    "infinite label in a csv",
    "empty header row",
    "two-character delimiter",
    "infinite value in an npz",
    "empty npz",
    ".npy renamed .npz",
    "infinite weight decay",
    "seed 1e29",
    "rotation 1e9",
    "weights_path that is not a weights file",
)


@pytest.mark.parametrize("case", VALUE_CASES)
def test_bad_values_are_named(case, tmp_path, capsys):
    argv, fragments = _value_case(case, tmp_path)
    line = assert_cli_error(argv, capsys, fragments, [tmp_path])
    assert "learning rate" not in line


def test_an_image_that_breaks_after_indexing_is_bad_input(tmp_path, capsys):
    """Streamed folders read headers only when indexed; a file that is cut short decodes later (statistics,
    batches): that is bad input with the file named, never 'a bug'."""
    root = _image_folder(tmp_path / "images")
    data = (root / "dog" / "2.png").read_bytes()
    (root / "dog" / "2.png").write_bytes(data[:60])  # the header survives, the pixels do not
    assert_cli_error(
        [
            "project",
            "new",
            tmp_path / "p.wbproj",
            "--data",
            root,
            "--option",
            "in_memory=no",
            "--template",
            "mlp",
        ],
        capsys,
        [str(root / "dog" / "2.png"), "can no longer be read"],
        [tmp_path],
    )


def test_relative_dataset_source_is_taken_from_the_project_folder(tmp_path, monkeypatch):
    from workbench.core.project import load_project

    folder = tmp_path / "proj"
    (folder / "data").mkdir(parents=True)
    np.savez(folder / "data" / "d.npz", X=np.zeros((4, 2)), y=np.array([0, 1, 0, 1]))
    path = write_project(folder / "p.wbproj", dataset={"kind": "npz", "source": "data/d.npz"})
    monkeypatch.chdir(tmp_path)  # not the project's folder
    assert load_project(path).dataset.source == str(folder / "data" / "d.npz")


# -- 6. documents beyond the loader's limits
# ----------------------------------------------------------------------


@pytest.mark.parametrize("case", ["5000-digit integer", "nested 1000 deep", "nested 150 deep"])
def test_documents_beyond_the_limits(case, tmp_path, capsys):
    doc = json.loads(write_project(tmp_path / "base.wbproj").read_text(encoding="utf-8"))
    text = json.dumps(doc)
    if case == "5000-digit integer":
        text = text.replace('"epochs": ', '"epochs": ' + "9" * 5000 + ', "x": ', 1)
        fragments = ["4300 digits"]
    else:
        depth = 1000 if case == "nested 1000 deep" else 150
        doc["dataset"]["options"]["deep"] = "@"
        text = json.dumps(doc).replace('"@"', "[" * depth + "]" * depth)
        fragments = ["nested too deeply", "100 levels"]
    path = tmp_path / "p.wbproj"
    path.write_text(text, encoding="utf-8")
    for argv in (
        ["train", path],
        ["model", "check", path],
        ["project", "script", path, "-o", tmp_path / "t.py"],
    ):
        assert_cli_error(argv, capsys, fragments, [tmp_path])


def test_gui_opens_no_project_beyond_the_limits(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from workbench.ui.main_window import MainWindow

    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a, **k: shown.append(text))
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text, *a, **k: shown.append(text))
    path = tmp_path / "deep.wbproj"
    path.write_text('{"format_version": 1, "name": ' + "[" * 1000 + "]" * 1000 + "}", encoding="utf-8")
    window = MainWindow()
    qtbot.addWidget(window)
    try:
        assert not window.open_project(path, confirmed=True)
        assert any("nested too deeply" in text for text in shown), shown
    finally:
        window.shutdown()


# -- 7. a plugin cannot hang Workbench
# -----------------------------------------------------------------------------


def test_a_hanging_plugin_is_disabled_after_the_deadline(tmp_path, monkeypatch, capsys):
    from workbench.plugins.manager import FAILED, PluginManager, reset_plugins

    folder = tmp_path / "plugins"
    folder.mkdir()
    release = tmp_path / "release"  # the hang ends when the test is done (no thread left behind)
    (folder / "hang.py").write_text(
        f"import os, time\nwhile not os.path.exists({str(release)!r}):\n"
        "    time.sleep(0.05)\ndef register(api):\n    pass\n",
        encoding="utf-8",
    )
    marker = tmp_path / "imported"
    (folder / "loud.py").write_text(
        f"open({str(marker)!r}, 'w').close()\ndef register(api):\n    pass\n", encoding="utf-8"
    )
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WORKBENCH_PLUGIN_TIMEOUT", "0.5")
    state = tmp_path / "home" / "plugins.json"
    state.parent.mkdir()
    state.write_text(
        json.dumps({"format_version": 1, "disabled": [], "folders": {str(folder): True}}), encoding="utf-8"
    )
    reset_plugins()
    try:
        manager = PluginManager(state_file=state, entry_points=False)
        started = time.perf_counter()
        manager.load()
        assert time.perf_counter() - started < 10
        record = manager.record("hang")
        assert record.status == FAILED and "within 0.5 s" in record.error and "disabled" in record.error
        assert "hang" in json.loads(state.read_text(encoding="utf-8"))["disabled"]
        manager.unload()
        marker.unlink()
        reset_plugins()
        # enable / disable never import a plugin, so they work even when one hangs on import
        code, out, err = run_cli(["plugins", "disable", "loud"], capsys)
        assert code == 0 and "disabled" in out, err
        assert not marker.exists()
    finally:
        release.touch()
        for thread in threading.enumerate():
            if thread.name == "wb-plugin-import-hang":
                thread.join(5)
        reset_plugins()


# -- 8. resume refuses what does not belong together
# ---------------------------------------------------------------


def test_resume_refuses_an_inconsistent_pair_and_another_projects_run(
    project_copy, run_dir, tmp_path, capsys
):
    from safetensors.torch import load_file, save_file

    optim = run_dir / "checkpoints" / "last.optim.safetensors"
    other = write_project(
        tmp_path / "other" / "other.wbproj",
        model=MLP,
        training={"epochs": 3, "batch_size": 128, "device": "cpu"},
    )
    assert_cli_error(
        ["train", other, "--resume", run_dir, "--epochs", "3"],
        capsys,
        ["was trained from the project", "resume it from its own project"],
        [project_copy.parent, other],
    )
    tensors = load_file(optim)
    save_file(
        tensors,
        optim,
        metadata={
            "format": "workbench-checkpoint-optimizer",
            "format_version": "1",
            "param_groups": "[]",
            "state_id": "from-another-save",
        },
    )
    assert_cli_error(
        ["train", project_copy, "--resume", run_dir, "--epochs", "3"],
        capsys,
        ["does not belong to the checkpoint", "saved at different times"],
        [project_copy.parent],
    )


# -- 9. generated code escapes every user string
# -------------------------------------------------------------------

HOSTILE = [
    'x"""\nimport os; os.system("touch PWNED")\n"""',
    "a'''b\\",
    "line\nbreak\r\x00",
    "\\N{BOOM}",
    "\ud800",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_generated_scripts_escape_hostile_names(name, tmp_path):
    from workbench.core.model.codegen import generate_code
    from workbench.core.project import load_project
    from workbench.core.scriptgen import generate_training_script

    project = load_project(write_project(tmp_path / "p.wbproj", model=MLP))
    project.name = name
    for source in (
        generate_training_script(project, f"{name}.py"),
        generate_code(project.model, "Model", name),
    ):
        source.encode("utf-8")  # writable as a file
        tree = ast.parse(source)  # compiles: the name never ends a string early
        assert name in ast.get_docstring(tree)  # and is shown as it is
        calls = [
            n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "system"
        ]
        assert not calls
    with pytest.raises(UserError, match="not a usable Python class name"):
        generate_code(project.model, "class")


# -- 10. the current folder is not first on sys.path
# ---------------------------------------------------------------


def test_python_m_workbench_ignores_modules_in_the_current_folder(tmp_path):
    marker = tmp_path / "PWNED"
    for module in ("numpy", "pydantic", "json"):
        (tmp_path / f"{module}.py").write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "model", "templates"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert not marker.exists()


# -- 11. a full disk under an export is one error line (not an abort, not 'ONNX cannot express')
# ---------------------------------------


def test_torchscript_export_onto_a_full_disk(run_dir, tiny_disk, capsys):
    """A real full filesystem (tmpfs, root only): torch.jit.save straight onto it aborted the whole process."""
    tiny_disk.fill(leave=2048)
    line = assert_cli_error(
        ["export", run_dir, "--format", "torchscript", "-o", tiny_disk.path / "m.pt"],
        capsys,
        ["no space left on the disk", "nothing was written"],
        [run_dir.parent],
    )
    assert str(tiny_disk.path / "m.pt") in line, line  # the file the user asked for, not a work file
    assert sorted(p.name for p in tiny_disk.path.iterdir()) == [".filler"]


ONNX_FULL_DISK = [
    (fmt, "nothing") for fmt in ("onnx", "onnx-fp16", "onnx-int8-dynamic", "onnx-int8-static")
] + [(fmt, "the fp32 model") for fmt in ("onnx-fp16", "onnx-int8-dynamic", "onnx-int8-static")]


@pytest.mark.parametrize(("fmt", "room_for"), ONNX_FULL_DISK)
def test_onnx_export_onto_a_full_disk(run_dir, tiny_disk, tmp_path, capsys, fmt, room_for):
    """A real full filesystem, with room for nothing, or for the fp32 model but not for what is made from it: the
    exporters' errors became "ONNX cannot express an operation", or a traceback when onnxruntime read back a
    truncated file that a library had written without an error. Each format now says the disk is full, and
    leaves nothing."""
    room = 2048
    if room_for == "the fp32 model":
        code, _, err = run_cli(["export", run_dir, "--format", "onnx", "-o", tmp_path / "fp32.onnx"], capsys)
        assert code == 0, err
        room = (tmp_path / "fp32.onnx").stat().st_size + 8192
    tiny_disk.fill(leave=room)
    line = assert_cli_error(
        ["export", run_dir, "--format", fmt, "-o", tiny_disk.path / "m.onnx"],
        capsys,
        ["no space left on the disk", "nothing was written"],
        [run_dir.parent],
    )
    assert str(tiny_disk.path / "m.onnx") in line and "cannot express" not in line, line
    assert sorted(p.name for p in tiny_disk.path.iterdir()) == [".filler"]


# -- 12. evaluation does not keep samples x classes
# ----------------------------------------------------------------


def test_evaluation_memory_and_metrics_with_many_classes():
    import torch
    from sklearn.metrics import precision_recall_fscore_support

    from workbench.core.data.dataset import DataBundle, DatasetMeta, Split
    from workbench.core.training.evaluation import Evaluation, evaluate_model

    n_classes, n = 3000, 2000
    x = torch.randn(n, 4)
    y = torch.randint(0, n_classes, (n,))
    meta = DatasetMeta(
        kind="npz",
        input_shape=(4,),
        num_classes=n_classes,
        class_names=[str(i) for i in range(n_classes)],
        task="classification",
    )
    split = Split(name="val", dataset=torch.utils.data.TensorDataset(x, y), x=x, y=y)
    empty = Split(name="train", dataset=torch.utils.data.TensorDataset(x[:0], y[:0]), x=x[:0], y=y[:0])
    data = DataBundle(meta=meta, train=empty, val=split, test=empty)
    model = torch.nn.Linear(4, n_classes)
    seen = []
    real_softmax = torch.Tensor.softmax

    def watch(self, *args, **kwargs):
        seen.append(self.shape[0])
        return real_softmax(self, *args, **kwargs)

    torch.Tensor.softmax = watch
    try:
        result = evaluate_model(model, data, "val", torch.device("cpu"), batch_size=256)
    finally:
        torch.Tensor.softmax = real_softmax
    assert max(seen) <= 256  # softmax per batch, never over the whole split's logits
    p, r, f, _ = precision_recall_fscore_support(
        result.y_true, result.y_pred, labels=list(range(n_classes)), zero_division=0
    )
    assert np.allclose(result.precision, p) and np.allclose(result.recall, r) and np.allclose(result.f1, f)
    assert sum(map(sum, result.confusion)) == n and len(result.confusion) == n_classes
    stored = result.to_dict()
    assert len(stored["confusion"]["cells"]) <= n  # stored sparse
    assert Evaluation.from_dict(json.loads(json.dumps(stored))).confusion == result.confusion


# -- 13. any bytes in a data file: read, or one UserError
# ----------------------------------------------------------


def _csv_bytes():
    from hypothesis import strategies as st

    cell = st.sampled_from(
        [
            "1",
            "2.5",
            "",
            "inf",
            "-inf",
            "nan",
            "NA",
            "x",
            "y z",
            '"q,r"',
            "1e999",
            "\u00e9",
            " 3 ",
            "?",
            "-",
            "1,5",
            "\x00",
        ]
    )
    row = st.lists(cell, min_size=1, max_size=4).map(lambda cells: ",".join(cells))
    text = st.lists(row, min_size=0, max_size=12).map(lambda rows: "\n".join(rows))
    return text.map(lambda t: t.encode("utf-8")) | st.binary(max_size=300)


def test_any_bytes_as_a_csv_or_npz_is_read_or_refused(tmp_path):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from workbench.core.data.inspect import inspect_source, settings_for

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=_csv_bytes() | st.binary(max_size=400).map(lambda b: b"PK\x03\x04" + b), target=st.booleans())
    def check(data, target):
        for suffix, kind in ((".csv", "csv"), (".npz", "npz")):
            path = tmp_path / f"d{suffix}"
            path.write_bytes(data)
            try:
                inspect_source(
                    settings_for(
                        str(path),
                        kind,
                        "column1" if target else None,
                        {"header": not target} if kind == "csv" else None,
                    )
                )
            except UserError as exc:
                assert "\n" not in str(exc).strip()
            assert path.read_bytes() == data

    check()


# -- 14. failed allocations and dead peers are bad input, not bugs
# ------------------------------------------------


def test_out_of_memory_is_exit_2(tmp_path, monkeypatch, capsys):
    import workbench.core.data.inspect as inspect

    def allocate(*args, **kwargs):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
            "you tried to allocate 400000000000 bytes. Error code 12 (Cannot allocate memory)"
        )

    monkeypatch.setattr(inspect, "read_source", allocate)
    assert_cli_error(
        ["data", "inspect", "digits"], capsys, ["out of memory", "can't allocate memory"], [tmp_path]
    )
    monkeypatch.setattr(
        inspect, "read_source", lambda *a, **k: (_ for _ in ()).throw(ValueError("a real bug"))
    )
    with pytest.raises(ValueError, match="a real bug"):  # anything else stays a bug (exit 1, traceback)
        run_cli(["data", "inspect", "digits"], capsys)


def test_a_dead_distributed_peer_is_named(tmp_path):
    from types import SimpleNamespace

    from workbench.commands.train import _report_events
    from workbench.core.training.control import TrainingControl
    from workbench.core.training.events import Finished

    def finished(error):
        return Finished(
            status="failed",
            epochs_completed=1,
            steps=10,
            best_val_accuracy=None,
            samples_per_second=1.0,
            elapsed=1.0,
            run_dir=str(tmp_path),
            message="RuntimeError: collective failed",
            error=error,
            cause="bug",
        )

    args = SimpleNamespace(json_lines=False)
    lost = "RuntimeError: [gloo/transport/tcp/pair.cc:534] Connection closed by peer [10.0.0.2]:4242"
    with pytest.raises(UserError, match="another process of the distributed job stopped"):
        _report_events(iter([finished(lost)]), args, TrainingControl(), distributed=True)
    assert _report_events(iter([finished("KeyError: 'x'")]), args, TrainingControl(), distributed=True) == 1
