"""The standalone training script: it loads every supported source exactly as Workbench does, is lint-clean,
imports no Workbench code, and trains digits to a sensible accuracy when run with python."""

from __future__ import annotations

import ast
import json
import runpy
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from workbench.core.data import DatasetSettings, load_dataset
from workbench.core.errors import UserError
from workbench.core.model.templates import make_template
from workbench.core.project import Project
from workbench.core.scriptgen import READER, export_training_script, generate_training_script

RUN_WITHOUT_WORKBENCH = """
import runpy, sys
sys.argv = ["train.py", *sys.argv[1:]]
runpy.run_path("train.py", run_name="__main__")
leaked = sorted(m for m in sys.modules if m.split(".")[0] == "workbench")
assert not leaked, leaked
"""


def _project(settings: DatasetSettings, **training) -> Project:
    meta = load_dataset(settings).meta
    spec = make_template("mlp", meta.input_shape, meta.num_classes)
    return Project(name="t", dataset=settings, model=spec, training={"epochs": 3, "lr": 3e-3, **training})


def _script_namespace(project, tmp_path) -> dict:
    path = export_training_script(project, tmp_path / "train.py")
    return runpy.run_path(str(path))  # defines everything, runs nothing (no __main__)


def _assert_same_data(project, tmp_path):
    ns = _script_namespace(project, tmp_path)
    reader = ns[READER[ns["DATA"]["kind"]]]
    ours = ns["load_data"](ns["DATA"], reader)
    theirs = load_dataset(project.dataset)
    for name in ("train", "val", "test"):
        x, y = ours[name]
        split = theirs.split(name)
        assert torch.equal(y, split.y), name
        assert torch.allclose(x, split.x.float(), atol=1e-5), name
    meta = ours["meta"]
    assert meta["class_names"] == theirs.meta.class_names and meta["task"] == theirs.meta.task
    assert meta["input_shape"] == list(theirs.meta.input_shape)
    if theirs.meta.mean is not None:
        assert np.allclose(meta["mean"], theirs.meta.mean, atol=1e-6)
        assert np.allclose(meta["std"], theirs.meta.std, atol=1e-6)


def test_digits_script_is_clean_python_without_workbench_imports(tmp_path):
    source = generate_training_script(_project(DatasetSettings(), scheduler="onecycle", optimizer="sgd"))
    tree = ast.parse(source)
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(m.split(".")[0] == "workbench" for m in modules)
    (tmp_path / "train.py").write_text(source)
    lint = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--isolated",
            "--no-cache",
            "--select",
            "F,E9,I",
            str(tmp_path / "train.py"),
        ],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout


@pytest.mark.slow
def test_digits_script_trains_with_python(tmp_path):
    """The acceptance check: `python train.py` on digits reaches a sensible accuracy and writes weights that
    Workbench can load."""
    from workbench.core.paths import SAMPLE_PROJECT
    from workbench.core.project import load_project
    from workbench.core.training.checkpoints import load_checkpoint

    export_training_script(load_project(SAMPLE_PROJECT), tmp_path / "train.py")
    proc = subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT_WORKBENCH, "--epochs", "3", "--device", "cpu"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "epoch 3" in proc.stdout
    summary = json.loads((tmp_path / "train-output" / "summary.json").read_text())
    assert summary["test_accuracy"] > 0.9 and summary["epochs"] == 3
    checkpoint = load_checkpoint(tmp_path / "train-output" / "best.safetensors")
    assert checkpoint.meta["dataset"]["class_names"] == [str(i) for i in range(10)]
    model = checkpoint.build_model()
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_script_loads_digits_like_workbench(tmp_path):
    _assert_same_data(_project(DatasetSettings(options={"resize": 12, "color": "rgb"})), tmp_path)


def test_script_loads_csv_like_workbench(tmp_path):
    rng = np.random.default_rng(2)
    lines = ["height;city;score;grade"]
    for i in range(90):
        height = "" if i % 17 == 0 else f"{rng.normal(170, 10):.1f}"
        city = "NA" if i % 23 == 0 else ["Oslo", "Lima", "Pune"][i % 3]
        lines.append(f"{height};{city};{rng.integers(0, 5)};{['a', 'b', 'c'][i % 3]}")
    path = tmp_path / "people.csv"
    path.write_text("\n".join(lines) + "\n")
    for missing in ("impute", "drop"):
        settings = DatasetSettings(kind="csv", source=str(path), target="grade", options={"missing": missing})
        _assert_same_data(_project(settings), tmp_path)


def test_script_loads_npz_like_workbench(tmp_path):
    rng = np.random.default_rng(3)
    images = tmp_path / "images.npz"
    np.savez(images, X=rng.integers(0, 255, (60, 6, 6, 3), dtype=np.uint8), y=np.arange(60) % 4)
    _assert_same_data(_project(DatasetSettings(kind="npz", source=str(images))), tmp_path)
    table = tmp_path / "table.npz"
    np.savez(table, X=rng.normal(size=(50, 5)), y=rng.normal(size=50))  # regression
    _assert_same_data(_project(DatasetSettings(kind="npz", source=str(table))), tmp_path)


def test_script_loads_an_image_folder_like_workbench(tmp_path):
    rng = np.random.default_rng(4)
    for cls in ("cat", "dog"):
        (tmp_path / "pets" / cls).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (10, 14, 3), dtype=np.uint8)).save(
                tmp_path / "pets" / cls / f"{i}.png"
            )
    (tmp_path / "pets" / "notes.txt").write_text("not an image")
    settings = DatasetSettings(
        kind="imagefolder",
        source=str(tmp_path / "pets"),
        options={"resize": "8x8", "color": "grayscale", "augment_flip": True},
    )
    project = _project(settings)
    _assert_same_data(project, tmp_path)
    assert "def augment(" in (tmp_path / "train.py").read_text()


def test_unsupported_projects_are_refused_before_writing(tmp_path):
    texts = tmp_path / "reviews.csv"
    texts.write_text(
        "review,label\n"
        + "".join(f"film {i} was {w} and long,{w}\n" for i, w in enumerate(["good", "bad"] * 20))
    )
    project = Project(
        dataset=DatasetSettings(
            kind="csv", source=str(texts), options={"pretrained_tokenizer": str(tmp_path)}
        )
    )
    with pytest.raises(UserError, match="pretrained model's own tokenizer cannot be written as a standalone"):
        export_training_script(project, tmp_path / "train.py")
    with pytest.raises(UserError, match="does not exist"):
        export_training_script(
            Project(dataset=DatasetSettings(kind="npz", source=str(tmp_path / "no.npz"))),
            tmp_path / "train.py",
        )
    broken = Project(
        model={
            "input_shape": [1, 8, 8],
            "layers": [{"type": "Linear", "out_features": 3}, {"type": "Conv2d", "out_channels": 2}],
        }
    )
    with pytest.raises(UserError, match="cannot export code"):
        export_training_script(broken, tmp_path / "train.py")
    assert not (tmp_path / "train.py").exists()
