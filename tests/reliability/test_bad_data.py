"""Bad-input corpus, dataset sources: every broken source is one clear `error:` line (exit 2) from
`workbench project new` / `workbench data inspect`, no project file is written and the source is untouched;
files that cannot be read inside an otherwise good folder are skipped and listed with the reason."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PIL import Image
from reliability_helpers import assert_cli_error, assert_unchanged, disk_state, run_cli


def _png(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(path)
    return path


def _image_folder(root, classes=("cat", "dog"), per_class=4):
    for c in classes:
        for i in range(per_class):
            _png(root / c / f"{i}.png", seed=i)
    return root


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _malicious_pickle(marker):
    class Boom:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    return pickle.dumps({b"data": Boom(), b"labels": [0]}, protocol=2)


def _make(kind, tmp_path):
    """(source path, extra CLI args, expected message fragments) for each broken source."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    if kind == "empty folder":
        (tmp_path / "empty").mkdir()
        return (
            tmp_path / "empty",
            ["--kind", "imagefolder"],
            ["no class subfolders", "one subfolder per class"],
        )
    if kind == "single class":
        return _image_folder(tmp_path / "one", ("only",)), [], ["only one class", "two classes"]
    if kind == "all images truncated":
        root = _image_folder(tmp_path / "trunc")
        for png in root.rglob("*.png"):
            _truncate(png)
        return root, [], ["none of the 8 image files", "could be decoded"]
    if kind == "ragged csv":
        (tmp_path / "r.csv").write_text("a,b,label\n1,2,x\n3,4\n5,6,y\n", encoding="utf-8")
        return tmp_path / "r.csv", [], ["line 3", "2 fields", "header has 3"]
    if kind == "missing target column":
        (tmp_path / "t.csv").write_text("a,b,label\n1,2,x\n3,4,y\n", encoding="utf-8")
        return tmp_path / "t.csv", ["--target", "species"], ["column 'species' not found", "a, b, label"]
    if kind == "empty csv":
        (tmp_path / "e.csv").write_bytes(b"")
        return tmp_path / "e.csv", [], ["is empty"]
    if kind == "header-only csv":
        (tmp_path / "h.csv").write_text("a,b,label\n", encoding="utf-8")
        return tmp_path / "h.csv", [], ["no data rows"]
    if kind == "binary file as csv":
        (tmp_path / "bin.csv").write_bytes(bytes(range(256)) * 8)
        return tmp_path / "bin.csv", [], ["bin.csv"]
    if kind == "npz without X and y":
        np.savez(tmp_path / "a.npz", features=np.zeros((4, 2)))
        return tmp_path / "a.npz", [], ["no array X or y", "it has: features", "numpy.savez"]
    if kind == "npz lengths differ":
        np.savez(tmp_path / "m.npz", X=np.zeros((10, 4)), y=np.zeros(7))
        return tmp_path / "m.npz", [], ["10 samples", "7 labels"]
    if kind == "npz negative label":
        np.savez(tmp_path / "n.npz", X=np.zeros((6, 4)), y=np.array([0, 1, -1, 0, 1, 0]))
        return tmp_path / "n.npz", [], ["negative label -1", "0..K-1"]
    if kind == "npz with pickled objects":
        np.savez(tmp_path / "o.npz", X=np.array([{"a": 1}] * 4, dtype=object), y=np.zeros(4))
        return tmp_path / "o.npz", [], ["without pickle"]
    if kind == "npz not a zip":
        (tmp_path / "g.npz").write_bytes(b"PK\x03\x04 definitely not a zip")
        return tmp_path / "g.npz", [], ["not a readable .npz"]
    if kind == "mnist files missing":
        (tmp_path / "mnist" / "MNIST" / "raw").mkdir(parents=True)
        (tmp_path / "mnist" / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"\0" * 16)
        return tmp_path / "mnist", ["--kind", "mnist"], ["mnist files missing", "train-labels-idx1-ubyte"]
    if kind == "mnist files corrupt":
        raw = tmp_path / "mnist" / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for name in (
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        ):
            (raw / name).write_bytes(b"\x00\x00\x08\x03garbage")
        return tmp_path / "mnist", ["--kind", "mnist"], ["mnist"]
    if kind == "cifar batch runs code":
        folder = tmp_path / "cifar" / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        for name in (
            "data_batch_1",
            "data_batch_2",
            "data_batch_3",
            "data_batch_4",
            "data_batch_5",
            "test_batch",
            "batches.meta",
        ):
            (folder / name).write_bytes(_malicious_pickle(tmp_path / "PWNED"))
        return tmp_path / "cifar", ["--kind", "cifar10"], ["not a CIFAR-10 python batch file", "refusing"]
    if kind == "missing path":
        return tmp_path / "nowhere", [], ["not found", "nowhere"]
    if kind == "unknown kind":
        return _image_folder(tmp_path / "imgs"), ["--kind", "parquet"], ["parquet"]
    if kind == "folder given as csv":
        return _image_folder(tmp_path / "imgs"), ["--kind", "csv"], ["is a folder"]
    raise AssertionError(kind)


BROKEN = [
    "empty folder",
    "single class",
    "all images truncated",
    "ragged csv",
    "missing target column",
    "empty csv",
    "header-only csv",
    "binary file as csv",
    "npz without X and y",
    "npz lengths differ",
    "npz negative label",
    "npz with pickled objects",
    "npz not a zip",
    "mnist files missing",
    "mnist files corrupt",
    "cifar batch runs code",
    "missing path",
    "unknown kind",
    "folder given as csv",
]


@pytest.mark.parametrize("kind", BROKEN)
def test_broken_source_is_one_error_line_and_no_project(kind, tmp_path, capsys):
    source, extra, fragments = _make(kind, tmp_path / "data")
    project = tmp_path / "out" / "new.wbproj"
    project.parent.mkdir()
    assert_cli_error(
        ["project", "new", project, "--data", source, *extra, "--template", "mlp"],
        capsys,
        fragments,
        [tmp_path],
    )
    assert not project.exists()
    assert not (tmp_path / "data" / "PWNED").exists()  # the pickle's payload never ran


@pytest.mark.parametrize("kind", ["empty csv", "npz lengths differ", "mnist files missing", "single class"])
def test_inspect_reports_the_same_error(kind, tmp_path, capsys):
    source, extra, fragments = _make(kind, tmp_path / "data")
    assert_cli_error(["data", "inspect", source, *extra, "--json"], capsys, fragments, [tmp_path])


def test_unreadable_files_in_a_good_folder_are_skipped_with_reasons(tmp_path, capsys):
    root = _image_folder(tmp_path / "imgs", per_class=3)
    _truncate(root / "cat" / "0.png")
    (root / "dog" / "notes.txt").write_text("not an image", encoding="utf-8")
    (root / "dog" / "fake.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    before = disk_state(tmp_path)
    code, out, err = run_cli(["data", "inspect", root, "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["num_samples"] == 5 and report["class_names"] == ["cat", "dog"]
    reasons = {s["path"].rsplit("/", 1)[-1]: s["reason"] for s in report["skipped"]}
    assert set(reasons) == {"0.png", "notes.txt", "fake.png"}
    assert all(reasons.values())
    assert_unchanged(before, disk_state(tmp_path))


def test_latin1_csv_is_read_and_says_so(tmp_path, capsys):
    path = tmp_path / "café.csv"
    rows = ["name,size,label"] + [f"caf\xe9{i},{i},{'oui' if i % 2 else 'non'}" for i in range(10)]
    path.write_bytes("\n".join(rows).encode("latin-1"))
    before = disk_state(tmp_path)
    code, out, err = run_cli(["data", "inspect", path], capsys)
    assert code == 0, err
    assert "10 samples" in out.replace(",", "") and "latin" in out.lower()
    assert_unchanged(before, disk_state(tmp_path))


def test_unicode_and_spaces_in_paths_work_end_to_end(tmp_path, capsys):
    root = _image_folder(tmp_path / "données d'entrée" / "画像 フォルダ", classes=("chat noir", "chien ✓"))
    project = tmp_path / "mes projets" / "projet ü.wbproj"
    code, out, err = run_cli(
        ["project", "new", project, "--data", root, "--template", "mlp", "--json"], capsys
    )
    assert code == 0, err
    assert json.loads(out)["dataset"]["num_classes"] == 2
    code, out, err = run_cli(["train", project, "--epochs", "1", "--device", "cpu"], capsys)
    assert code == 0, err
    from workbench.core.training.runs import list_runs

    (run,) = list_runs(project.parent / "runs")
    assert run.status == "completed" and run.checkpoint("last") is not None
