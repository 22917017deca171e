"""The last tracebacks of issue 27, each with variants: exit 2, one `error:` line, nothing written.

MNIST idx files of another element type or dimension, train and test images of different sizes, sizes too
large for a float, `.pt` state dicts whose values are not tensors, `--run-dir` paths the file system refuses
(a symlink loop, a name too long, a file in the way, no permission), and `workbench train` with a torch that
cannot be imported."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from reliability_helpers import MLP, assert_cli_error, disk_state, refused_writes

IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _idx(path: Path, arr: np.ndarray, code: int = 0x08) -> None:
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    path.write_bytes(header + arr.astype(IDX_DTYPES[code]).tobytes())


def _mnist(root: Path, images=0x08, labels=0x08, train_hw=(28, 28), test_hw=(28, 28), image_ndim=3) -> Path:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n, hw in ((MNIST_NAMES[0], 30, train_hw), (MNIST_NAMES[2], 10, test_hw)):
        pixels = rng.integers(0, 255, (n, *hw))
        _idx(raw / name, pixels if image_ndim == 3 else pixels.reshape(n, -1), images)
    _idx(raw / MNIST_NAMES[1], rng.integers(0, 10, 30), labels)
    _idx(raw / MNIST_NAMES[3], rng.integers(0, 10, 10), labels)
    return root


@pytest.mark.parametrize(
    "layout, fragments",
    [
        ({"images": 0x0B}, ["train-images-idx3-ubyte", "16-bit integers", "unsigned bytes"]),
        ({"images": 0x0D}, ["train-images-idx3-ubyte", "32-bit floats", "unsigned bytes"]),
        ({"labels": 0x0C}, ["train-labels-idx1-ubyte", "32-bit integers", "labels must be unsigned bytes"]),
        ({"labels": 0x0E}, ["train-labels-idx1-ubyte", "64-bit floats", "labels must be unsigned bytes"]),
        ({"image_ndim": 2}, ["train-images-idx3-ubyte", "2-dimensional", "N x height x width"]),
        ({"test_hw": (32, 32)}, ["training images", "are 28x28", "test images are 32x32"]),
        ({"train_hw": (28, 20)}, ["are 28x20", "test images are 28x28"]),
    ],
)
def test_mnist_files_of_another_type_or_size(layout, fragments, tmp_path, capsys):
    root = _mnist(tmp_path / "data", **layout)
    for kind in ("mnist", "fashionmnist"):
        if kind == "fashionmnist":
            (root / "MNIST").rename(root / "FashionMNIST")
        assert_cli_error(["data", "inspect", root, "--kind", kind], capsys, fragments, [tmp_path])


BIG = str(10**400)


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["model", "templates", "mlp", "--input-shape", f"1,{BIG}"], ["--input-shape", "~10^400", "2**63-1"]),
        (["model", "templates", "mlp", "--input-shape", f"{BIG}x8"], ["~10^400 values per sample"]),
        (["model", "check", "SPEC", "--input-shape", BIG], ["--input-shape", "~10^400"]),
        (["model", "check", "SPEC", "--input-shape", "100000,100000,100000,100000"], ["~10^20 values"]),
        (["model", "check", "SPEC", "--input-shape", "1e400"], ["--input-shape", "positive sizes"]),
    ],
)
def test_input_shapes_too_large_for_a_float(argv, fragments, tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(MLP))
    assert_cli_error([spec if a == "SPEC" else a for a in argv], capsys, fragments, [tmp_path])


@pytest.mark.parametrize(
    "change, fragments",
    [
        ({"input_shape": [10**400]}, ["input_shape", "~10^400", "2**63-1"]),
        ({"input_shape": [1, 2**40, 2**40]}, ["input_shape", "~10^24 values per sample"]),
        (
            {"layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 10**400}]},
            ["out_features", "~10^400"],
        ),
    ],
)
def test_specs_with_numbers_too_large_for_a_float(change, fragments, tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**MLP, **change}))
    assert_cli_error(["model", "check", spec], capsys, fragments, [tmp_path])


def _state_dict_file(folder: Path, name: str, change) -> Path:
    import torch

    from workbench.core.model.build import build_model
    from workbench.core.model.spec import ModelSpec

    folder.mkdir(exist_ok=True)
    (folder / "spec.json").write_text(json.dumps(MLP))
    state = dict(build_model(ModelSpec.model_validate(MLP)).state_dict())
    change(state)
    torch.save(state, folder / name)
    return folder / name


@pytest.mark.parametrize(
    "change, fragments",
    [
        (lambda s: s.update({"1.weight": s["1.weight"].tolist()}), ["'1.weight' is a list, not a tensor"]),
        (lambda s: s.update({"1.weight": {"w": s["1.weight"]}}), ["'1.weight' is a nested dict"]),
        (lambda s: s.update({"1.bias": 3}), ["'1.bias' is an int, not a tensor"]),
        (lambda s: s.update({"1.bias": None}), ["'1.bias' is None, not a tensor"]),
        (lambda s: s.update({5: s.pop("1.bias")}), ["the key 5 is not text"]),
    ],
)
def test_pt_state_dicts_whose_values_are_not_tensors(change, fragments, tmp_path, capsys):
    weights = _state_dict_file(tmp_path / "w", "model.pt", change)
    assert_cli_error(["export", weights, "-o", tmp_path / "out" / "m.onnx"], capsys, fragments, [tmp_path])


def test_a_pickled_object_is_refused_in_our_own_words(tmp_path, capsys):
    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    weights = _state_dict_file(tmp_path / "w", "model.pt", lambda s: s.update({"extra": Evil()}))
    line = assert_cli_error(
        ["export", weights, "-o", tmp_path / "m.onnx"],
        capsys,
        ["pickled Python object (posix.system)"],
        [tmp_path],
    )
    assert "Re-running" not in line and "weights_only" not in line


@pytest.mark.parametrize(
    "case", ["loop", "inside a loop", "name too long", "file in the way", "no permission"]
)
def test_run_dir_paths_the_file_system_refuses(case, project_copy, tmp_path, monkeypatch, capsys):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "locked").mkdir()
    run_dir, fragments = {
        "loop": (tmp_path / "loop", ["loop", "symbolic link that loops"]),
        "inside a loop": (tmp_path / "loop" / "run", ["symbolic link that loops"]),
        "name too long": (tmp_path / ("n" * 300), ["name is too long"]),
        "file in the way": (tmp_path / "a_file" / "run", ["a_file", "not a directory"]),
        "no permission": (tmp_path / "locked" / "run", ["locked", "permission denied"]),
    }[case]
    argv = ["train", project_copy, "--epochs", "1", "--run-dir", run_dir]
    roots = [tmp_path / "a_file", tmp_path / "locked", project_copy.parent]
    if case == "no permission":
        with refused_writes(tmp_path / "locked", monkeypatch):
            assert_cli_error(argv, capsys, fragments, roots)
    else:
        assert_cli_error(argv, capsys, fragments, roots)


def test_train_when_torch_cannot_be_imported(project_copy, tmp_path):
    """A torch/__init__.py that raises, first on PYTHONPATH: one line naming the cause and the fix."""
    broken = tmp_path / "broken" / "torch"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text('raise RuntimeError("simulated broken torch install")\n')
    before = disk_state(project_copy.parent)
    repo = Path(__file__).parents[2]
    run = next((project_copy.parent / "runs").iterdir())
    for argv in (
        ["train", str(project_copy), "--epochs", "1"],
        ["train", str(project_copy), "--run-dir", "new"],
        ["export", str(run), "-o", "new/model.onnx"],
    ):
        out = subprocess.run(
            [sys.executable, "-m", "workbench", *argv],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": f"{broken.parent}{os.pathsep}{repo}"},
        )
        assert out.returncode == 2, out.stderr
        assert out.stderr.strip().splitlines() == [
            "error: torch could not be imported: RuntimeError: simulated broken torch install; "
            "reinstall it with `make venv`"
        ]
    assert disk_state(project_copy.parent) == before and not (tmp_path / "new").exists()


@pytest.mark.parametrize("flag", ["--batch-size", "--grad-accumulation-steps"])
def test_memory_plan_with_a_count_too_large_for_a_float(flag, tmp_path, capsys):
    from reliability_helpers import write_project

    project = write_project(tmp_path / "p.wbproj", model=MLP)
    assert_cli_error(
        ["model", "memory", project, flag, BIG],
        capsys,
        ["bad training option", "less than or equal"],
        [tmp_path],
    )
