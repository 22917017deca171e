"""NumPy `.npz` source: arrays `X` (samples first) and `y` (labels), optional `class_names`.

X of shape (N, H, W) or (N, C, H, W) is treated as images (uint8 0..255, or floats used as they are);
(N, F) as tabular features. Integer `y` (or whole-number floats) are class indices 0..K-1 (K from
`class_names` when given, else max + 1); other float `y` is a regression target.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from workbench.core.data.raw import IMAGE, TABULAR, RawData
from workbench.core.errors import UserError


def _read(path: Path):
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"file not found: {path}") from None
    except PermissionError:
        raise UserError(f"cannot read {path}: permission denied") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder; choose a .npz file with arrays X and y") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise UserError(f"{path} is not a readable .npz file ({exc}); save it with numpy.savez(path, X=..., "
                        "y=...)") from None


def load_npz(settings, progress=None, cancel=None) -> RawData:
    path = Path(settings.source).expanduser()
    if progress:
        progress(0, 1, f"Reading {path.name}")
    with _read(path) as data:
        if not hasattr(data, "files"):
            raise UserError(f"{path} holds a single array; save X and y with numpy.savez(path, X=..., y=...)")
        missing = [k for k in ("X", "y") if k not in data.files]
        if missing:
            raise UserError(f"{path} has no array {' or '.join(missing)} (it has: {', '.join(data.files) or 'none'});"
                            " save it with numpy.savez(path, X=features, y=labels)")
        try:
            x, y = data["X"], data["y"]
            names = [str(s) for s in data["class_names"]] if "class_names" in data.files else None
        except ValueError as exc:
            raise UserError(f"{path}: cannot read its arrays without pickle ({exc}); store plain numeric "
                            "arrays") from None
    if x.ndim < 2:
        raise UserError(f"X in {path} has shape {x.shape}; it needs samples first, e.g. (N, features) or "
                        "(N, H, W)")
    y = np.asarray(y).reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else np.asarray(y)
    if y.ndim != 1:
        raise UserError(f"y in {path} has shape {y.shape}; it needs one label per sample, shape (N,)")
    if len(x) != len(y):
        raise UserError(f"X has {len(x)} samples but y has {len(y)} labels in {path}; they must match")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise UserError(f"X in {path} is not numeric (dtype {x.dtype}); store numbers")
    task, y, names = _targets(y, names, path, settings.options.get("task", "auto"))
    if progress:
        progress(1, 1, f"Read {len(y):,} samples")
    extra = {"file": str(path)}
    if x.ndim in (3, 4):
        img = x[:, None] if x.ndim == 3 else x
        if img.shape[1] not in (1, 3) and img.shape[-1] in (1, 3):     # channels last (N, H, W, C)
            img = img.transpose(0, 3, 1, 2)
        if img.dtype == np.uint8:
            return RawData(modality=IMAGE, x=np.ascontiguousarray(img), y=y, class_names=names, task=task,
                           scale=255.0, extra=extra)
        x = img.reshape(len(img), -1)
        extra["image_shape"] = list(img.shape[1:])
        return RawData(modality=TABULAR, x=x.astype(np.float32), y=y, class_names=names, task=task,
                       extra={**extra, "note": "float images are used as flat features",
                              "features": [f"x{i}" for i in range(x.shape[1])]})
    x = x.reshape(len(x), -1).astype(np.float32)
    return RawData(modality=TABULAR, x=x, y=y, class_names=names, task=task,
                   extra={**extra, "features": [f"x{i}" for i in range(x.shape[1])]})


def _targets(y: np.ndarray, names: list[str] | None, path: Path, task: str):
    if y.dtype.kind in "US":
        classes = sorted({str(v) for v in y})
        return "classification", np.searchsorted(np.array(classes), y.astype(str)).astype(np.int64), classes
    if not np.issubdtype(y.dtype, np.number) and y.dtype != bool:
        raise UserError(f"y in {path} has dtype {y.dtype}; store integer class labels or float targets")
    whole = np.issubdtype(y.dtype, np.integer) or y.dtype == bool or bool(np.all(np.mod(y, 1) == 0))
    if task == "regression" or (task == "auto" and not whole):
        return "regression", y.astype(np.float32), []
    labels = y.astype(np.int64)
    if labels.min() < 0:
        raise UserError(f"y in {path} has the negative label {int(labels.min())}; class labels must be 0..K-1")
    k = len(names) if names is not None else int(labels.max()) + 1
    if labels.max() >= k:
        raise UserError(f"y in {path} has the label {int(labels.max())} but class_names lists only {k} classes "
                        f"(labels must be 0..{k - 1})")
    return "classification", labels, names or [str(i) for i in range(k)]


def is_npz(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".npz"
