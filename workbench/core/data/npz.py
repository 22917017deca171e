"""NumPy `.npz` source: arrays `X` (samples first) and `y` (labels), optional `class_names`.

X of shape (N, H, W) or (N, C, H, W) is treated as images (uint8 0..255, or floats used as they are);
(N, F) as tabular features. Integer `y` (or whole-number floats) are class indices 0..K-1 (K from
`class_names` when given, else max + 1); other float `y` is a regression target.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core.data.raw import IMAGE, TABULAR, RawData
from workbench.core.errors import UserError
from workbench.core.io import check_regular_file, open_regular_file

MAX_ARRAY_BYTES = 8 << 30  # one array of an .npz, as its header declares it (checked before reading)
MAX_CLASSES = 10_000  # class labels 0..K-1


def _member_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, key: str):
    """(shape, dtype) from the .npy header of one member, checked against the member's size and the limits."""
    import numpy.lib.format as npf

    with zf.open(info) as fh:
        version = npf.read_magic(fh)
        read = npf.read_array_header_1_0 if version == (1, 0) else npf.read_array_header_2_0
        shape, _fortran, dtype = read(fh)
    if dtype.hasobject:
        raise UserError(
            f"{path}: cannot read its arrays without pickle ({key} holds Python objects); store plain "
            "numeric arrays"
        )
    count = 1
    for dim in shape:
        count *= int(dim)
    nbytes = count * dtype.itemsize
    if nbytes > info.file_size:
        raise UserError(
            f"{path}: array {key} declares shape {tuple(shape)} ({nbytes:,} bytes) but the file holds "
            f"only {info.file_size:,} bytes; the file is damaged"
        )
    if nbytes > MAX_ARRAY_BYTES:
        raise UserError(
            f"{path}: array {key} has {nbytes:,} bytes, more than the limit of {MAX_ARRAY_BYTES:,} "
            "bytes; use an image folder (streamed from disk) for data this large"
        )
    return shape, dtype


def _read(path: Path) -> dict[str, np.ndarray]:
    """X, y (and class_names) of an .npz, each array's header checked before it is read; never unpickles."""
    import numpy.lib.format as npf

    check_regular_file(path, ".npz file")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        try:
            with open_regular_file(path, ".npz file") as fh:
                single = fh.read(6) == npf.MAGIC_PREFIX
        except UserError:
            single = False
        if single:
            raise UserError(
                f"{path} is a single .npy array, not an .npz archive; save X and y with "
                "numpy.savez(path, X=..., y=...)"
            ) from None
        raise UserError(
            f"{path} is not a readable .npz file ({exc}); save it with numpy.savez(path, X=..., y=...)"
        ) from None
    with zf:
        members = {n[:-4]: zf.getinfo(n) for n in zf.namelist() if n.endswith(".npy")}
        missing = [k for k in ("X", "y") if k not in members]
        if missing:
            raise UserError(
                f"{path} has no array {' or '.join(missing)} (it has: {', '.join(members) or 'none'});"
                " save it with numpy.savez(path, X=features, y=labels)"
            )
        arrays: dict[str, np.ndarray] = {}
        for key in ("X", "y", "class_names"):
            if key not in members:
                continue
            try:
                _member_header(zf, members[key], path, key)
                with zf.open(members[key]) as fh:
                    arrays[key] = npf.read_array(fh, allow_pickle=False)
            except UserError:
                raise
            except (zipfile.BadZipFile, ValueError, OSError, EOFError, RuntimeError) as exc:
                raise UserError(
                    f"{path}: array {key} cannot be read ({str(exc)[:160]}); save it again with "
                    "numpy.savez(path, X=..., y=...)"
                ) from None
    return arrays


def load_npz(settings, progress=None, cancel=None) -> RawData:
    path = Path(settings.source).expanduser()
    if progress:
        progress(0, 1, f"Reading {path.name}")
    data = _read(path)
    x, y = data["X"], data["y"]
    names = None
    if "class_names" in data:
        if data["class_names"].ndim != 1 or len(data["class_names"]) > MAX_CLASSES:
            raise UserError(f"class_names in {path} must be a list of at most {MAX_CLASSES:,} names")
        names = [str(v) for v in data["class_names"]]
    if x.ndim < 2:
        raise UserError(
            f"X in {path} has shape {x.shape}; it needs samples first, e.g. (N, features) or (N, H, W)"
        )
    y = np.asarray(y).reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else np.asarray(y)
    if y.ndim != 1:
        raise UserError(f"y in {path} has shape {y.shape}; it needs one label per sample, shape (N,)")
    if len(x) != len(y):
        raise UserError(f"X has {len(x)} samples but y has {len(y)} labels in {path}; they must match")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise UserError(f"X in {path} is not numeric (dtype {x.dtype}); store numbers")
    if len(x) == 0:
        raise UserError(
            f"{path} holds no samples (X has shape {x.shape}); store at least one sample per class"
        )
    check_finite(x, f"X in {path}")
    task, y, names = _targets(y, names, path, settings.options.get("task", "auto"))
    if progress:
        progress(1, 1, f"Read {len(y):,} samples")
    extra: dict[str, Any] = {"file": str(path)}
    if x.ndim in (3, 4):
        img = x[:, None] if x.ndim == 3 else x
        if img.shape[1] not in (1, 3) and img.shape[-1] in (1, 3):  # channels last (N, H, W, C)
            img = img.transpose(0, 3, 1, 2)
        if img.dtype == np.uint8:
            return RawData(
                modality=IMAGE,
                x=np.ascontiguousarray(img),
                y=y,
                class_names=names,
                task=task,
                scale=255.0,
                extra=extra,
            )
        x = img.reshape(len(img), -1)
        extra["image_shape"] = list(img.shape[1:])
        return RawData(
            modality=TABULAR,
            x=x.astype(np.float32),
            y=y,
            class_names=names,
            task=task,
            extra={
                **extra,
                "note": "float images are used as flat features",
                "features": [f"x{i}" for i in range(x.shape[1])],
            },
        )
    x = x.reshape(len(x), -1).astype(np.float32)
    return RawData(
        modality=TABULAR,
        x=x,
        y=y,
        class_names=names,
        task=task,
        extra={**extra, "features": [f"x{i}" for i in range(x.shape[1])]},
    )


def _targets(y: np.ndarray, names: list[str] | None, path: Path, task: str):
    if y.dtype.kind in "US":
        classes = sorted({str(v) for v in y})
        return "classification", np.searchsorted(np.array(classes), y.astype(str)).astype(np.int64), classes
    if not np.issubdtype(y.dtype, np.number) and y.dtype != bool:
        raise UserError(f"y in {path} has dtype {y.dtype}; store integer class labels or float targets")
    if np.iscomplexobj(y):
        raise UserError(f"y in {path} holds complex numbers; store integer class labels or float targets")
    check_finite(y, f"y in {path}")
    whole = np.issubdtype(y.dtype, np.integer) or y.dtype == bool or bool(np.all(np.mod(y, 1) == 0))
    if task == "regression" or (task == "auto" and not whole):
        return "regression", y.astype(np.float32), []
    if y.dtype.kind == "f" and (y.min() < -(2**62) or y.max() > 2**62):
        raise UserError(
            f"y in {path} has the label {y.max() if y.max() > 0 else y.min():g}; class labels must "
            f"be 0..K-1 with K at most {MAX_CLASSES:,}"
        )
    labels = y.astype(np.int64)
    if labels.min() < 0:
        raise UserError(
            f"y in {path} has the negative label {int(labels.min())}; class labels must be 0..K-1"
        )
    if names is None and labels.max() >= MAX_CLASSES:
        raise UserError(
            f"y in {path} has the label {int(labels.max()):,}, which would make {int(labels.max()) + 1:,}"
            f" classes, more than the limit of {MAX_CLASSES:,}; class labels must be 0..K-1"
        )
    k = len(names) if names is not None else int(labels.max()) + 1
    if labels.max() >= k:
        raise UserError(
            f"y in {path} has the label {int(labels.max())} but class_names lists only {k} classes "
            f"(labels must be 0..{k - 1})"
        )
    return "classification", labels, names or [str(i) for i in range(k)]


def check_finite(values: np.ndarray, what: str) -> None:
    """Refuse inf / NaN in input values or labels (checked in chunks: no copy of a large array)."""
    if values.dtype.kind not in "fc":
        return
    flat = values.reshape(-1)
    for start in range(0, len(flat), 1 << 22):
        bad = ~np.isfinite(flat[start : start + (1 << 22)])
        if bad.any():
            i = start + int(np.flatnonzero(bad)[0])
            where = np.unravel_index(i, values.shape)
            raise UserError(
                f"{what} holds the non-finite value {flat[i]} (at index {tuple(int(v) for v in where)});"
                " replace inf / NaN values before training"
            )


def is_npz(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".npz"
