"""MNIST / FashionMNIST read by torchvision's own loader from IDX files written from the digits; CIFAR-10's
documented pickle batch layout and its error messages."""

import pickle

import numpy as np
import pytest

from workbench.core.data import DatasetSettings, detect_kind, load_dataset
from workbench.core.data.synthetic import write_cifar, write_mnist
from workbench.core.errors import UserError


@pytest.mark.parametrize("name,kind", [("MNIST", "mnist"), ("FashionMNIST", "fashionmnist")])
def test_mnist_layouts_read_by_torchvision(tmp_path, digits_arrays, name, kind):
    root = write_mnist(tmp_path, *digits_arrays, name=name, n_train=300, n_test=100)
    bundle = load_dataset(DatasetSettings(kind=kind, source=str(root)))
    assert bundle.meta.input_shape == (1, 28, 28) and bundle.meta.num_classes == 10
    assert len(bundle.test) == 100 and bundle.test.indices == list(range(300, 400))  # the official test set
    assert len(bundle.train) + len(bundle.val) == 300
    assert bundle.meta.class_names[0] in ("0 - zero", "T-shirt/top")
    # pixels survive the IDX round trip through torchvision's reader
    assert np.abs(bundle.sample_image("test", 0).astype(int).mean() - digits_arrays[0][300].mean()) < 8
    assert detect_kind(str(root / name)) == kind
    assert load_dataset(DatasetSettings(kind=kind, source=str(root / name / "raw"))).meta.num_classes == 10


def test_mnist_missing_files_named(tmp_path, digits_arrays):
    root = write_mnist(tmp_path, *digits_arrays)
    (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(
        UserError,
        match=r"MNIST files missing in .*MNIST/raw: expected .*missing "
        r"t10k-labels-idx1-ubyte",
    ):
        load_dataset(DatasetSettings(kind="mnist", source=str(root)))
    with pytest.raises(UserError, match="folder not found"):
        load_dataset(DatasetSettings(kind="mnist", source=str(tmp_path / "none")))


def test_cifar_batches_read(tmp_path):
    root = write_cifar(tmp_path, per_batch=20)
    bundle = load_dataset(DatasetSettings(kind="cifar10", source=str(root)))
    assert bundle.meta.input_shape == (3, 32, 32) and bundle.meta.class_names[0] == "airplane"
    assert len(bundle.test) == 20 and len(bundle.train) + len(bundle.val) == 100
    with open(root / "cifar-10-batches-py" / "test_batch", "rb") as fh:
        raw = pickle.load(fh, encoding="bytes")
    # row layout: 1024 red, 1024 green, 1024 blue values, each 32x32 row-major
    expected = raw[b"data"][0].reshape(3, 32, 32).transpose(1, 2, 0)
    assert np.array_equal(bundle.sample_image("test", 0), expected)
    assert detect_kind(str(root)) == "cifar10"


def test_cifar_errors(tmp_path):
    root = write_cifar(tmp_path)
    folder = root / "cifar-10-batches-py"
    (folder / "data_batch_3").unlink()
    with pytest.raises(UserError, match="CIFAR-10 files missing in .*missing data_batch_3"):
        load_dataset(DatasetSettings(kind="cifar10", source=str(root)))
    (folder / "data_batch_3").write_bytes(b"garbage")
    with pytest.raises(UserError, match="data_batch_3 is not a CIFAR-10 python batch file"):
        load_dataset(DatasetSettings(kind="cifar10", source=str(root)))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(folder / "data_batch_3", "wb") as fh:
        pickle.dump({b"data": Evil(), b"labels": []}, fh)
    with pytest.raises(UserError, match="refusing to load builtins.print"):
        load_dataset(DatasetSettings(kind="cifar10", source=str(root)))
