"""MNIST, FashionMNIST and CIFAR-10 from a local folder in torchvision's layouts (never downloaded here).

    ROOT/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte         (read by torchvision.datasets.MNIST)
    ROOT/FashionMNIST/raw/... the same four files                        (torchvision.datasets.FashionMNIST)
    ROOT/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta} (the documented pickle batch layout)

`source` may be ROOT, ROOT/<Name> or ROOT/<Name>/raw. The official test files become the test split; the
official training files are shared between train and val. CIFAR-10 batches are read with an unpickler that
only admits plain containers and numpy arrays (torchvision's own class checks md5 sums and would unpickle
anything).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from workbench.core.data.raw import IMAGE, TEST, UNASSIGNED, RawData
from workbench.core.errors import UserError

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _mnist_root(path: Path, name: str) -> Path:
    """The folder torchvision wants as `root` (it reads root/<name>/raw/...)."""
    path = path.expanduser()
    if not path.is_dir():
        raise UserError(f"folder not found: {path}; choose the folder that holds {name}/raw/")
    if path.name == "raw" and path.parent.name == name:
        return path.parent.parent
    if path.name == name and (path / "raw").is_dir():
        return path.parent
    return path


def _check_mnist(root: Path, name: str) -> None:
    raw = root / name / "raw"
    missing = [f for f in MNIST_FILES if not (raw / f).is_file()]
    if missing:
        gz = [f for f in missing if (raw / f"{f}.gz").is_file()]
        hint = (f"; found {len(gz)} still gzipped: extract them (gunzip {raw}/*.gz)" if gz else
                f"; get them with torchvision.datasets.{name}(root, download=True) on a machine with internet")
        raise UserError(f"{name} files missing in {raw}: expected {', '.join(MNIST_FILES)}; missing "
                        f"{', '.join(missing)}{hint}")


def _load_mnist_like(settings, progress, name: str) -> RawData:
    import torchvision.datasets as tvd

    root = _mnist_root(Path(settings.source), name)
    _check_mnist(root, name)
    cls = getattr(tvd, name)
    parts = []
    for k, train in enumerate((True, False)):
        if progress:
            progress(k, 2, f"Reading {name} {'training' if train else 'test'} files")
        try:
            ds = cls(str(root), train=train, download=False)
        except (RuntimeError, OSError, ValueError, AssertionError) as exc:
            raise UserError(f"cannot read the {name} files in {root / name / 'raw'}: {exc}") from None
        parts.append((ds.data.numpy(), ds.targets.numpy().astype(np.int64), list(ds.classes)))
    (xtr, ytr, classes), (xte, yte, _) = parts
    if progress:
        progress(2, 2, f"Read {len(ytr) + len(yte):,} images")
    return _official(settings, np.concatenate([xtr, xte])[:, None], np.concatenate([ytr, yte]), len(ytr), classes,
                     {"root": str(root), "official_train": int(len(ytr)), "official_test": int(len(yte))})


def _official(settings, x, y, n_train, classes, extra) -> RawData:
    preset = None
    if settings.options.get("official_test", True):
        preset = np.full(len(y), UNASSIGNED, dtype=np.int8)
        preset[n_train:] = TEST
    return RawData(modality=IMAGE, x=np.ascontiguousarray(x), y=y, class_names=classes, scale=255.0,
                   preset=preset, extra=extra)


def load_mnist(settings, progress=None, cancel=None) -> RawData:
    return _load_mnist_like(settings, progress, "MNIST")


def load_fashionmnist(settings, progress=None, cancel=None) -> RawData:
    return _load_mnist_like(settings, progress, "FashionMNIST")


class _ArrayUnpickler(pickle.Unpickler):
    """Admits only what a CIFAR batch holds: dicts, lists, bytes, str, numbers and numpy arrays."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"),
               ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar_batch(path: Path) -> dict:
    """One batch file: a pickled dict with b"data" (N x 3072 uint8, rows of R then G then B planes, 32x32
    each, row-major) and b"labels" (N ints); batches.meta has b"label_names"."""
    try:
        with open(path, "rb") as fh:
            obj = _ArrayUnpickler(fh, encoding="bytes").load()
    except PermissionError:
        raise UserError(f"cannot read {path}: permission denied") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise UserError(f"{path} is not a CIFAR-10 python batch file ({exc or type(exc).__name__})") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path} is not a CIFAR-10 python batch file (expected a dict)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _cifar_folder(path: Path) -> Path:
    path = path.expanduser()
    if not path.is_dir():
        raise UserError(f"folder not found: {path}; choose the folder that holds {CIFAR_FOLDER}/")
    return path if path.name == CIFAR_FOLDER else path / CIFAR_FOLDER


def load_cifar10(settings, progress=None, cancel=None) -> RawData:
    folder = _cifar_folder(Path(settings.source))
    missing = [f for f in CIFAR_FILES if not (folder / f).is_file()]
    if missing:
        raise UserError(f"CIFAR-10 files missing in {folder}: expected {', '.join(CIFAR_FILES)}; missing "
                        f"{', '.join(missing)}. Extract cifar-10-python.tar.gz there (torchvision's layout), or get "
                        "it with torchvision.datasets.CIFAR10(root, download=True) on a machine with internet")
    meta = read_cifar_batch(folder / "batches.meta")
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta.get("label_names", CIFAR_CLASSES)]
    xs, ys = [], []
    for k, name in enumerate(CIFAR_FILES[:-1]):
        if progress:
            progress(k, 6, f"Reading CIFAR-10 {name}")
        batch = read_cifar_batch(folder / name)
        data, labels = batch.get("data"), batch.get("labels")
        if data is None or labels is None:
            raise UserError(f"{folder / name} has no data/labels entries; is it a CIFAR-10 batch file?")
        data = np.asarray(data, dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
            raise UserError(f"{folder / name}: data has shape {data.shape} for {len(labels)} labels; expected "
                            "(N, 3072) for N labels")
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(np.asarray(labels, dtype=np.int64))
    n_train = sum(len(y) for y in ys[:5])
    if progress:
        progress(6, 6, f"Read {n_train + len(ys[5]):,} images")
    return _official(settings, np.concatenate(xs), np.concatenate(ys), n_train, names,
                     {"root": str(folder), "official_train": int(n_train), "official_test": int(len(ys[5]))})


def looks_like_mnist(path: Path, name: str = "MNIST") -> bool:
    if not path.is_dir():
        return False
    cands = [path, path.parent, path.parent.parent]
    return any((c / name / "raw").is_dir() and (c / name / "raw" / MNIST_FILES[0]).exists() for c in cands) and (
        path.name in ("raw", name) or (path / name).is_dir())


def looks_like_cifar(path: Path) -> bool:
    return path.is_dir() and (path.name == CIFAR_FOLDER or (path / CIFAR_FOLDER).is_dir())
