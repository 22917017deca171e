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

import os
import pickle
from pathlib import Path
from typing import ClassVar

import numpy as np

from workbench.core.data.raw import IMAGE, TEST, UNASSIGNED, RawData
from workbench.core.errors import UserError

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
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
        hint = (
            f"; found {len(gz)} still gzipped: extract them (gunzip {raw}/*.gz)"
            if gz
            else f"; get them with torchvision.datasets.{name}(root, download=True) on a machine with internet"
        )
        raise UserError(
            f"{name} files missing in {raw}: expected {', '.join(MNIST_FILES)}; missing "
            f"{', '.join(missing)}{hint}"
        )


IDX_TYPES = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}  # idx type code -> bytes per value
IDX_TYPE_NAMES = {
    0x08: "unsigned bytes",
    0x09: "signed bytes",
    0x0B: "16-bit integers",
    0x0C: "32-bit integers",
    0x0D: "32-bit floats",
    0x0E: "64-bit floats",
}
MAX_BATCH_BYTES = 256 << 20  # a CIFAR-10 batch file is about 31 MB


def _idx_header(path: Path) -> tuple[int, list[int]]:
    """(type code, dims) from an idx file's header, checked against the file's size before it is read."""
    from workbench.core.io import check_regular_file, open_regular_file

    size = check_regular_file(path, f"{path.name}").st_size
    with open_regular_file(path, "MNIST file") as fh:
        head = fh.read(4)
        if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in IDX_TYPES or not 1 <= head[3] <= 4:
            raise UserError(f"{path} is not an MNIST idx file (bad magic number); extract it again")
        dims_raw = fh.read(4 * head[3])
    if len(dims_raw) < 4 * head[3]:
        raise UserError(f"{path} is cut short in its header; extract it again")
    dims = [int.from_bytes(dims_raw[i : i + 4], "big") for i in range(0, len(dims_raw), 4)]
    expected = 4 + 4 * len(dims) + IDX_TYPES[head[2]] * int(np.prod(dims, dtype=object))
    if expected != size:
        raise UserError(
            f"{path} declares {' x '.join(map(str, dims))} values ({expected:,} bytes) but the file "
            f"has {size:,} bytes; the file is damaged or cut short, extract it again"
        )
    return head[2], dims


def _check_idx(path: Path, what: str, ndim: int) -> list[int]:
    """The dims of an MNIST-layout idx file holding `what` ("images": N x H x W, "labels": N), or one line
    saying what the file holds instead (torchvision reads unsigned bytes only)."""
    code, dims = _idx_header(path)
    if code != 0x08:
        raise UserError(
            f"{path} holds {IDX_TYPE_NAMES[code]} (idx type 0x{code:02X}); MNIST {what} must be unsigned "
            "bytes (type 0x08): convert the file, or save the data as an .npz or image folder instead"
        )
    if len(dims) != ndim:
        expected = "N x height x width" if what == "images" else "N"
        raise UserError(
            f"{path} holds {len(dims)}-dimensional data ({' x '.join(map(str, dims))}); MNIST {what[:-1]} "
            f"files are {ndim}-dimensional ({expected})"
        )
    return dims


def _load_mnist_like(settings, progress, name: str) -> RawData:
    import torchvision.datasets as tvd

    root = _mnist_root(Path(settings.source), name)
    _check_mnist(root, name)
    raw = root / name / "raw"
    sizes = []
    for images, labels in ((MNIST_FILES[0], MNIST_FILES[1]), (MNIST_FILES[2], MNIST_FILES[3])):
        image_dims = _check_idx(raw / images, "images", 3)
        n_images, n_labels = image_dims[0], _check_idx(raw / labels, "labels", 1)[0]
        if n_images != n_labels:
            raise UserError(
                f"{raw / images} holds {n_images:,} images but {raw / labels} holds {n_labels:,} "
                "labels; they must match (a file from another set or cut short?)"
            )
        sizes.append(tuple(image_dims[1:]))
    if sizes[0] != sizes[1]:
        raise UserError(
            f"the training images in {raw} are {sizes[0][0]}x{sizes[0][1]} but the test images are "
            f"{sizes[1][0]}x{sizes[1][1]}; both sets must have one size (are the files from two data sets?)"
        )
    cls = getattr(tvd, name)
    parts = []
    for k, train in enumerate((True, False)):
        if progress:
            progress(k, 2, f"Reading {name} {'training' if train else 'test'} files")
        try:
            ds = cls(str(root), train=train, download=False)
        except (RuntimeError, OSError, ValueError, TypeError, AssertionError) as exc:
            raise UserError(f"cannot read the {name} files in {root / name / 'raw'}: {exc}") from None
        parts.append((ds.data.numpy(), ds.targets.numpy().astype(np.int64), list(ds.classes)))
    (xtr, ytr, classes), (xte, yte, _) = parts
    if progress:
        progress(2, 2, f"Read {len(ytr) + len(yte):,} images")
    return _official(
        settings,
        np.concatenate([xtr, xte])[:, None],
        np.concatenate([ytr, yte]),
        len(ytr),
        classes,
        {"root": str(root), "official_train": len(ytr), "official_test": len(yte)},
    )


def _official(settings, x, y, n_train, classes, extra) -> RawData:
    preset = None
    if settings.options.get("official_test", True):
        preset = np.full(len(y), UNASSIGNED, dtype=np.int8)
        preset[n_train:] = TEST
    return RawData(
        modality=IMAGE,
        x=np.ascontiguousarray(x),
        y=y,
        class_names=classes,
        scale=255.0,
        preset=preset,
        extra=extra,
    )


def load_mnist(settings, progress=None, cancel=None) -> RawData:
    return _load_mnist_like(settings, progress, "MNIST")


def load_fashionmnist(settings, progress=None, cancel=None) -> RawData:
    return _load_mnist_like(settings, progress, "FashionMNIST")


class _ArrayUnpickler(pickle.Unpickler):
    """Admits only what a CIFAR batch holds: dicts, lists, bytes, str, numbers and numpy arrays."""

    ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
    }

    def __init__(self, fh, limit: int, **kwargs):
        super().__init__(fh, **kwargs)
        self.limit = limit

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        found = super().find_class(module, name)
        limit = self.limit
        if name == "scalar":

            def scalar(dtype, *args):
                """A numpy scalar is allocated at its dtype's size: never more than the file could hold."""
                if np.dtype(dtype).itemsize > limit:
                    raise pickle.UnpicklingError(
                        f"a value of {np.dtype(dtype).itemsize:,} bytes declared in a file of {limit:,} bytes"
                    )
                return found(dtype, *args)

            return scalar
        if name != "_reconstruct":
            return found

        def reconstruct(subtype, shape, dtype):
            """numpy's pickle path allocates `shape` of `dtype` here: never more than the file could hold."""
            try:
                count = int(np.prod([int(d) for d in shape], dtype=object)) * np.dtype(dtype).itemsize
            except (TypeError, ValueError, OverflowError) as exc:
                raise pickle.UnpicklingError(f"bad array header ({exc})") from None
            if count > limit:
                raise pickle.UnpicklingError(
                    f"an array of {count:,} bytes declared in a file of {limit:,} bytes"
                )
            return found(subtype, shape, dtype)

        return reconstruct


def read_cifar_batch(path: Path) -> dict:
    """One batch file: a pickled dict with b"data" (N x 3072 uint8, rows of R then G then B planes, 32x32
    each, row-major) and b"labels" (N ints); batches.meta has b"label_names"."""
    from workbench.core.io import open_regular_file

    try:
        with open_regular_file(path, "CIFAR-10 batch file", MAX_BATCH_BYTES) as fh:
            size = os.fstat(fh.fileno()).st_size
            obj = _ArrayUnpickler(fh, size, encoding="bytes").load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        MemoryError,
        OverflowError,
        RecursionError,
    ) as exc:
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
        raise UserError(
            f"CIFAR-10 files missing in {folder}: expected {', '.join(CIFAR_FILES)}; missing "
            f"{', '.join(missing)}. Extract cifar-10-python.tar.gz there (torchvision's layout), or get "
            "it with torchvision.datasets.CIFAR10(root, download=True) on a machine with internet"
        )
    meta = read_cifar_batch(folder / "batches.meta")
    names = meta.get("label_names", CIFAR_CLASSES)
    if not isinstance(names, list) or not 2 <= len(names) <= 1000:
        raise UserError(
            f"{folder / 'batches.meta'} has no list of 2..1000 label_names; is it CIFAR-10's meta file?"
        )
    names = [n.decode(errors="replace") if isinstance(n, bytes) else str(n) for n in names]
    xs, ys = [], []
    for k, name in enumerate(CIFAR_FILES[:-1]):
        if progress:
            progress(k, 6, f"Reading CIFAR-10 {name}")
        batch = read_cifar_batch(folder / name)
        data, labels = batch.get("data"), batch.get("labels")
        if data is None or labels is None:
            raise UserError(f"{folder / name} has no data/labels entries; is it a CIFAR-10 batch file?")
        if (
            not isinstance(data, np.ndarray)
            or not isinstance(labels, list | np.ndarray)
            or not all(isinstance(v, int | np.integer) for v in labels)
        ):
            raise UserError(
                f"{folder / name}: data must be an array and labels a list of integers; is it a "
                "CIFAR-10 batch file?"
            )
        try:
            data = np.asarray(data, dtype=np.uint8)
            labels = np.asarray(labels, dtype=np.int64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise UserError(f"{folder / name}: data or labels are not arrays of numbers ({exc})") from None
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.ndim != 1 or len(data) != len(labels):
            raise UserError(
                f"{folder / name}: data has shape {data.shape} for {len(labels)} labels; expected "
                "(N, 3072) for N labels"
            )
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(labels)
    n_train = sum(len(y) for y in ys[:5])
    if progress:
        progress(6, 6, f"Read {n_train + len(ys[5]):,} images")
    return _official(
        settings,
        np.concatenate(xs),
        np.concatenate(ys),
        n_train,
        names,
        {"root": str(folder), "official_train": int(n_train), "official_test": len(ys[5])},
    )


def looks_like_mnist(path: Path, name: str = "MNIST") -> bool:
    if not path.is_dir():
        return False
    cands = [path, path.parent, path.parent.parent]
    return any(
        (c / name / "raw").is_dir() and (c / name / "raw" / MNIST_FILES[0]).exists() for c in cands
    ) and (path.name in ("raw", name) or (path / name).is_dir())


def looks_like_cifar(path: Path) -> bool:
    return path.is_dir() and (path.name == CIFAR_FOLDER or (path / CIFAR_FOLDER).is_dir())
