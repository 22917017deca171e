"""`workbench project new` on digits, an image folder and a CSV; the errors; `project script`; a moved dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from workbench.cli import main
from workbench.core.project import load_project


def _new(capsys, *args) -> dict:
    assert main(["project", "new", *map(str, args), "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def image_folder(tmp_path):
    """Three classes of 12x10 RGB images: bright, dark, striped."""
    rng = np.random.default_rng(0)
    root = tmp_path / "shapes"
    for name, base in (("bright", 200), ("dark", 30), ("striped", 0)):
        (root / name).mkdir(parents=True)
        for i in range(8):
            img = np.full((12, 10, 3), base, dtype=np.uint8) + rng.integers(
                0, 20, (12, 10, 3), dtype=np.uint8
            )
            if name == "striped":
                img[::2] = 250
            Image.fromarray(img).save(root / name / f"{i}.png")
    return root


@pytest.fixture
def csv_file(tmp_path):
    rng = np.random.default_rng(1)
    rows = ["size,colour,weight,label"]
    for i in range(60):
        label = ["small", "medium", "large"][i % 3]
        rows.append(f"{(i % 3) * 2 + rng.normal():.3f},{['red', 'blue'][i % 2]},{rng.normal():.3f},{label}")
    path = tmp_path / "table.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_new_digits_from_a_template(tmp_path, capsys):
    report = _new(capsys, tmp_path / "digits.wbproj", "--data", "digits", "--template", "lenet5")
    project = load_project(tmp_path / "digits.wbproj")
    assert project.name == "digits" and project.dataset.kind == "digits"
    assert project.model.input_shape == [1, 8, 8] and project.model.layers[-1].params["out_features"] == 10
    assert report["dataset"]["num_classes"] == 10 and report["model"]["output_shape"] == [10]
    assert report["dataset"]["splits"]["train"] > 1000


def test_new_image_folder_adapts_the_template(tmp_path, image_folder, capsys):
    report = _new(
        capsys, tmp_path / "shapes", "--data", image_folder, "--template", "small_vgg", "--name", "Shapes"
    )
    project = load_project(tmp_path / "shapes.wbproj")  # the suffix is added
    assert project.name == "Shapes" and project.dataset.kind == "imagefolder"
    assert project.dataset.source == str(image_folder.resolve())
    assert project.model.input_shape == [3, 12, 10] and report["model"]["output_shape"] == [3]


def test_new_csv_with_a_target_and_a_spec_file(tmp_path, csv_file, capsys):
    spec = tmp_path / "mlp.json"
    spec.write_text(
        json.dumps(
            {
                "input_shape": [99],
                "layers": [
                    {"type": "Linear", "out_features": 16},
                    {"type": "ReLU"},
                    {"type": "Linear", "out_features": 3},
                ],
            }
        )
    )
    report = _new(capsys, tmp_path / "table.wbproj", "--data", csv_file, "--target", "label", "--model", spec)
    project = load_project(tmp_path / "table.wbproj")
    assert project.dataset.target == "label" and project.model.input_shape == [4]  # 2 numbers + 2 one-hot
    assert "adapted" in report["model"]["from"] and report["dataset"]["num_classes"] == 3


def test_new_then_train_and_script(tmp_path, capsys):
    path = tmp_path / "p.wbproj"
    _new(capsys, path, "--data", "digits", "--template", "mlp")
    assert main(["train", str(path), "--epochs", "1", "--device", "cpu"]) == 0
    assert main(["project", "script", str(path), "-o", str(tmp_path / "train.py")]) == 0
    assert "class Model(nn.Sequential)" in (tmp_path / "train.py").read_text()


def test_new_without_a_template_picks_the_datas_default(tmp_path, capsys):
    """As the New project dialog: LeNet-5 for small images, the MLP for a table, the bag of embeddings for
    text (real data: the digits, scikit-learn's wine table, the standard library's docstrings)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from realdata import write_docstrings_csv, write_sklearn_csv

    wine = write_sklearn_csv(tmp_path / "wine.csv", "wine")
    docs = write_docstrings_csv(tmp_path / "docs.csv", ("json", "http"), per_class=30)
    for data, extra, template, first_layer in (
        ("digits", [], "lenet5", "Conv2d"),
        (wine, [], "mlp", "Linear"),
        (docs, ["--target", "module"], "text_bag", "EmbeddingBag"),
    ):
        path = tmp_path / f"{template}.wbproj"
        report = _new(capsys, path, "--data", data, *extra)
        assert report["model"]["from"] == f"template {template} (the data's default)"
        assert load_project(path).model.layers[0].type == first_layer


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "nowhere/images", "--template", "mlp"], "data source not found"),
        (
            ["--data", "digits", "--template", "nosuch"],
            "unknown template 'nosuch'; choose one of mlp, lenet5",
        ),
        (["--data", "digits", "--template", "text_lstm"], "templates that fit: mlp, lenet5"),
    ],
)
def test_new_errors_are_one_line(tmp_path, capsys, args, message):
    assert main(["project", "new", str(tmp_path / "x.wbproj"), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "x.wbproj").exists()


def test_new_refuses_a_spec_that_does_not_fit(tmp_path, capsys):
    spec = tmp_path / "wrong.json"
    spec.write_text(
        json.dumps(
            {"input_shape": [1, 8, 8], "layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 5}]}
        )
    )
    assert main(["project", "new", str(tmp_path / "x.wbproj"), "--data", "digits", "--model", str(spec)]) == 2
    assert "10 classes; set out_features to 10" in capsys.readouterr().err
    big = tmp_path / "big.json"
    big.write_text(
        json.dumps(
            {
                "input_shape": [1, 8, 8],
                "layers": [
                    {"type": "Conv2d", "out_channels": 4, "kernel_size": 9},
                    {"type": "Flatten"},
                    {"type": "Linear", "out_features": 10},
                ],
            }
        )
    )
    assert main(["project", "new", str(tmp_path / "x.wbproj"), "--data", "digits", "--model", str(big)]) == 2
    err = capsys.readouterr().err
    assert "does not fit the data (input 1x8x8): layer 0 (Conv2d)" in err
    assert not (tmp_path / "x.wbproj").exists()


def test_new_does_not_overwrite_without_force(tmp_path, capsys):
    path = tmp_path / "p.wbproj"
    path.write_text("keep me")
    assert main(["project", "new", str(path), "--data", "digits", "--template", "mlp"]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err and path.read_text() == "keep me"
    _new(capsys, path, "--data", "digits", "--template", "mlp", "--force")
    assert load_project(path).dataset.kind == "digits"


def test_train_names_a_dataset_that_moved(tmp_path, csv_file, capsys):
    path = tmp_path / "t.wbproj"
    _new(capsys, path, "--data", csv_file, "--template", "mlp")
    csv_file.unlink()
    assert main(["train", str(path), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "does not exist on this machine" in err and "dataset.source" in err
    assert main(["project", "script", str(path), "-o", str(tmp_path / "s.py")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_train_and_script_refuse_an_invalid_project(tmp_path, capsys):
    path = tmp_path / "bad.wbproj"
    path.write_text(json.dumps({"format_version": 1, "training": {"epochs": -1}}))
    for command in (["train", str(path)], ["project", "script", str(path), "-o", str(tmp_path / "s.py")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "not a valid project" in err and "training.epochs" in err
    assert not (tmp_path / "s.py").exists()


def test_torchrun_env_with_cuda_but_no_gpu_is_a_clear_error(tmp_path, monkeypatch, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    path = tmp_path / "p.wbproj"
    _new(capsys, path, "--data", "digits", "--template", "mlp")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", str(path), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "no CUDA GPU" in err and "--device cpu" in err and err.count("\n") == 1


def test_text_classification_data_gets_bert_but_not_the_language_model(tmp_path, capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from realdata import write_docstrings_csv

    docs = write_docstrings_csv(tmp_path / "docs.csv", ("json", "http"), per_class=30)
    path = tmp_path / "bert.wbproj"
    report = _new(capsys, path, "--data", str(docs), "--target", "module", "--template", "bert_classifier")
    assert report["model"]["from"] == "template bert_classifier"
    assert "TransformerEncoderLayer" in [layer.type for layer in load_project(path).model.layers]
    argv = ["project", "new", str(tmp_path / "lm.wbproj"), "--data", str(docs), "--target", "module"]
    assert main([*argv, "--template", "gpt_lm"]) == 2
    err = capsys.readouterr().err
    assert "templates that fit:" in err and "bert_classifier" in err and "gpt_lm" not in err.split("fit:")[1]
    assert not (tmp_path / "lm.wbproj").exists()
