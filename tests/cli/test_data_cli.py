"""`workbench data inspect` for every kind, in docs/contract.md's JSON shape; bad input -> one error line, exit 2."""

import json
import subprocess
import sys

import numpy as np
import pytest

from workbench.cli import main
from workbench.core.data.synthetic import (
    digits_uint8,
    write_cifar,
    write_csv,
    write_digits_csv,
    write_image_folder,
    write_mnist,
)

KEYS = {"kind", "num_samples", "num_classes", "class_names", "input_shape", "skipped"}


def inspect(capsys, *argv):
    code = main(["data", "inspect", *argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert set(report) == KEYS
    return report


@pytest.fixture(scope="module")
def digits():
    return digits_uint8()


def test_digits(capsys):
    r = inspect(capsys, "digits")
    assert r == {
        "kind": "digits",
        "num_samples": 1797,
        "num_classes": 10,
        "class_names": [str(i) for i in range(10)],
        "input_shape": [1, 8, 8],
        "skipped": [],
    }


def test_imagefolder_detected_with_skipped_files(tmp_path, capsys, digits):
    root = write_image_folder(tmp_path / "imgs", *digits, classes=(1, 2), per_class=6)
    (root / "digit1" / "readme.md").write_text("hi")
    r = inspect(capsys, str(root))
    assert r["kind"] == "imagefolder" and r["num_samples"] == 12 and r["class_names"] == ["digit1", "digit2"]
    assert r["input_shape"] == [1, 8, 8]
    assert (
        r["skipped"] == [{"path": str(root / "digit1" / "readme.md"), "reason": r["skipped"][0]["reason"]}]
        and "not an image" in r["skipped"][0]["reason"]
    )
    assert inspect(capsys, str(root), "--option", "resize=16x16")["input_shape"] == [1, 16, 16]


def test_csv_npz_and_text(tmp_path, capsys):
    path = write_digits_csv(tmp_path / "d.csv", n=120)
    r = inspect(capsys, str(path), "--target", "label")
    assert (r["kind"], r["num_samples"], r["num_classes"], r["input_shape"]) == ("csv", 120, 10, [64])
    text = write_csv(
        tmp_path / "t.csv",
        ["text", "label"],
        [[f"words number {i} here", "odd" if i % 2 else "even"] for i in range(40)],
    )
    r = inspect(capsys, str(text), "--kind", "csv", "--option", "seq_len=12")
    assert r["input_shape"] == [12] and r["class_names"] == ["even", "odd"]
    np.savez(tmp_path / "a.npz", X=np.random.default_rng(0).normal(size=(50, 5)), y=np.arange(50) % 3)
    r = inspect(capsys, str(tmp_path / "a.npz"))
    assert (r["kind"], r["num_samples"], r["num_classes"], r["input_shape"]) == ("npz", 50, 3, [5])


def test_mnist_fashion_cifar(tmp_path, capsys, digits):
    write_mnist(tmp_path / "m", *digits, n_train=60, n_test=20)
    r = inspect(capsys, str(tmp_path / "m"), "--kind", "mnist")
    assert (r["num_samples"], r["num_classes"], r["input_shape"]) == (80, 10, [1, 28, 28])
    write_mnist(tmp_path / "f", *digits, name="FashionMNIST", n_train=60, n_test=20)
    assert inspect(capsys, str(tmp_path / "f" / "FashionMNIST"))["kind"] == "fashionmnist"
    write_cifar(tmp_path / "c", per_batch=10)
    r = inspect(capsys, str(tmp_path / "c"))
    assert (r["kind"], r["num_samples"], r["input_shape"]) == ("cifar10", 60, [3, 32, 32])


def test_plain_text_output(tmp_path, capsys):
    assert main(["data", "inspect", "digits"]) == 0
    out = capsys.readouterr().out
    assert "1,797 samples" in out and "10 classes" in out


def test_bad_input_exit_2_one_line(tmp_path):
    bad = tmp_path / "rag.csv"
    bad.write_text("a,b,y\n1,2,0\n1,2\n")
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "data", "inspect", str(bad), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("error: ") and "line 3 has 2 fields" in proc.stderr


def test_unknown_kind_and_missing_path(tmp_path, capsys):
    assert main(["data", "inspect", "digits", "--kind", "parquet"]) == 2
    assert "unknown data kind 'parquet'" in capsys.readouterr().err
    assert main(["data", "inspect", str(tmp_path / "nothing.csv")]) == 2
    assert "not found" in capsys.readouterr().err
