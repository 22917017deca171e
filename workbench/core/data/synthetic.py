"""Sample data sets written from scikit-learn's digits: image folders, MNIST IDX files, CIFAR-10 batches,
CSV and npz. Used by the tests, the benchmark, and anyone who wants real files to try a source on."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np


def digits_uint8() -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (1797, 8, 8) in 0..255, labels int64)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16 * 255).round().astype(np.uint8), d.target.astype(np.int64)


def write_image_folder(
    root: Path, images, labels, classes=(0, 1, 2), per_class=20, size=None, fmt="png", mode="L"
) -> Path:
    """root/digit<c>/<k>.<fmt> for each class c; `size` (w, h) upscales, `mode` "L" or "RGB"."""
    from PIL import Image

    for c in classes:
        folder = root / f"digit{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for k, i in enumerate(np.flatnonzero(labels == c)[:per_class]):
            img = Image.fromarray(images[i], mode="L")
            if size:
                img = img.resize(size, Image.Resampling.NEAREST)
            img.convert(mode).save(folder / f"{k:03d}.{fmt}")
    return root


def write_idx(path: Path, arr: np.ndarray) -> None:
    """The IDX format MNIST uses: magic (0, 0, 0x08 = uint8, ndim), big-endian sizes, then the bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    path.write_bytes(header + arr.astype(np.uint8).tobytes())


def write_mnist(root: Path, images, labels, name="MNIST", n_train=300, n_test=100) -> Path:
    """root/<name>/raw/ with the four IDX files (digits upscaled to 28x28) that torchvision's loader reads."""
    from PIL import Image

    raw = root / name / "raw"
    raw.mkdir(parents=True)
    big = np.stack(
        [
            np.asarray(Image.fromarray(im).resize((28, 28), Image.Resampling.BILINEAR))
            for im in images[: n_train + n_test]
        ]
    )
    write_idx(raw / "train-images-idx3-ubyte", big[:n_train])
    write_idx(raw / "train-labels-idx1-ubyte", labels[:n_train])
    write_idx(raw / "t10k-images-idx3-ubyte", big[n_train:])
    write_idx(raw / "t10k-labels-idx1-ubyte", labels[n_train : n_train + n_test])
    return root


def write_cifar(root: Path, per_batch=20, seed=0) -> Path:
    """The documented python layout: pickled dicts with b"data" (N, 3072) uint8 and b"labels"."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as fh:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data}, fh, protocol=2)
    names = [
        b"airplane",
        b"automobile",
        b"bird",
        b"cat",
        b"deer",
        b"dog",
        b"frog",
        b"horse",
        b"ship",
        b"truck",
    ]
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": names, b"num_vis": 3072}, fh, protocol=2)
    return root


def write_csv(
    path: Path, header: list[str], rows: list[list], delimiter: str = ",", encoding: str = "utf-8"
) -> Path:
    lines = [delimiter.join(header)] + [delimiter.join(str(v) for v in row) for row in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def write_digits_csv(path: Path, n: int = 300) -> Path:
    """64 pixel columns p0..p63 and a `label` column."""
    images, labels = digits_uint8()
    flat = images[:n].reshape(n, -1)
    return write_csv(
        path,
        [f"p{i}" for i in range(64)] + ["label"],
        [[*map(int, row), int(t)] for row, t in zip(flat, labels[:n], strict=True)],
    )
