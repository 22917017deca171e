"""NumPy `.npz` source: arrays `X` (samples first) and `y` (labels), optional `class_names`.

X of shape (N, H, W) or (N, C, H, W) is treated as images (uint8 0..255, or floats used as they are);
(N, F) as tabular features. Integer `y` (or whole-number floats) are class indices 0..K-1 (K from
`class_names` when given, else max + 1); other float `y` is a regression target.

Every member's .npy header is read first (shape, dtype), so bad layouts are refused before any pixel is read.
Inspection (`read_npz_headers`) then reads only `y` and `class_names` and streams a float `X` in 4 MiB chunks
to check its values (never held whole); loading (`load_npz`) refuses an `X` larger than the available memory
before allocating it.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core.data.raw import IMAGE, TABULAR, RawData
from workbench.core.errors import Cancelled, UserError
from workbench.core.io import check_regular_file, open_regular_file
from workbench.core.units import bytes_text

MAX_ARRAY_BYTES = 8 << 30  # one array of an .npz, as its header declares it (checked before reading)
MAX_CLASSES = 10_000  # class labels 0..K-1
MEMORY_SHARE = 0.8  # of the memory available now, the most that loading X may take (X and its float32 copy)
CHUNK_BYTES = 4 << 20  # a float X is checked this much at a time when it is only inspected


@dataclass
class _Header:
    key: str
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize


def _member_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, key: str) -> _Header:
    """The .npy header of one member, checked against the member's size and the limits."""
    import numpy.lib.format as npf

    with zf.open(info) as fh:
        version = npf.read_magic(fh)
        read = npf.read_array_header_1_0 if version == (1, 0) else npf.read_array_header_2_0
        shape, fortran, dtype = read(fh)
    if dtype.hasobject:
        raise UserError(
            f"{path}: cannot read its arrays without pickle ({key} holds Python objects); store plain "
            "numeric arrays"
        )
    head = _Header(key, info, tuple(int(d) for d in shape), dtype, bool(fortran))
    if head.nbytes > info.file_size:
        raise UserError(
            f"{path}: array {key} declares shape {head.shape} ({head.nbytes:,} bytes) but the file holds "
            f"only {info.file_size:,} bytes; the file is damaged"
        )
    if head.nbytes > MAX_ARRAY_BYTES:
        raise UserError(
            f"{path}: array {key} has {head.nbytes:,} bytes, more than the limit of {MAX_ARRAY_BYTES:,} "
            "bytes; use an image folder (streamed from disk) for data this large"
        )
    return head


def _open(path: Path) -> zipfile.ZipFile:
    import numpy.lib.format as npf

    check_regular_file(path, ".npz file")
    try:
        return zipfile.ZipFile(path)
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


def _damaged(path: Path, key: str, exc: Exception) -> UserError:
    return UserError(
        f"{path}: array {key} cannot be read ({str(exc)[:160]}); save it again with "
        "numpy.savez(path, X=..., y=...)"
    )


def _read_member(zf: zipfile.ZipFile, head: _Header, path: Path) -> np.ndarray:
    import numpy.lib.format as npf

    try:
        with zf.open(head.info) as fh:
            return npf.read_array(fh, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, RuntimeError) as exc:
        raise _damaged(path, head.key, exc) from None


def _stream_check_finite(zf: zipfile.ZipFile, head: _Header, what: str, path: Path, cancel=None) -> None:
    """check_finite on a float member read CHUNK_BYTES at a time (the array is never held whole)."""
    import numpy.lib.format as npf

    if head.dtype.kind != "f":
        return
    step = max(1, CHUNK_BYTES // head.dtype.itemsize) * head.dtype.itemsize
    done = 0
    try:
        with zf.open(head.info) as fh:
            version = npf.read_magic(fh)
            (npf.read_array_header_1_0 if version == (1, 0) else npf.read_array_header_2_0)(fh)
            while done < head.nbytes:
                if cancel is not None and cancel():
                    raise Cancelled("loading cancelled")
                chunk = fh.read(min(step, head.nbytes - done))
                if not chunk or len(chunk) % head.dtype.itemsize:
                    raise EOFError("the array data ends early")
                values = np.frombuffer(chunk, dtype=head.dtype)
                bad = ~np.isfinite(values)
                if bad.any():
                    i = done // head.dtype.itemsize + int(np.flatnonzero(bad)[0])
                    where = np.unravel_index(i, head.shape, order="F" if head.fortran else "C")
                    raise UserError(_non_finite(what, values[bad][0], where))
                done += len(chunk)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, RuntimeError) as exc:
        raise _damaged(path, head.key, exc) from None


def _headers(zf: zipfile.ZipFile, path: Path) -> dict[str, _Header]:
    members = {n[:-4]: zf.getinfo(n) for n in zf.namelist() if n.endswith(".npy")}
    missing = [k for k in ("X", "y") if k not in members]
    if missing:
        raise UserError(
            f"{path} has no array {' or '.join(missing)} (it has: {', '.join(members) or 'none'});"
            " save it with numpy.savez(path, X=features, y=labels)"
        )
    heads: dict[str, _Header] = {}
    for key in ("X", "y", "class_names"):
        if key in members:
            try:
                heads[key] = _member_header(zf, members[key], path, key)
            except (zipfile.BadZipFile, ValueError, OSError, EOFError, RuntimeError) as exc:
                raise _damaged(path, key, exc) from None
    _check_layout(heads, path)
    return heads


def _check_layout(heads: dict[str, _Header], path: Path) -> None:
    """Shapes and dtypes, from the headers alone."""
    x, y = heads["X"], heads["y"]
    if len(x.shape) < 2:
        raise UserError(
            f"X in {path} has shape {x.shape}; it needs samples first, e.g. (N, features) or (N, H, W)"
        )
    y_shape = y.shape[:1] if len(y.shape) == 2 and y.shape[1] == 1 else y.shape
    if len(y_shape) != 1:
        raise UserError(f"y in {path} has shape {y.shape}; it needs one label per sample, shape (N,)")
    if x.shape[0] != y_shape[0]:
        raise UserError(
            f"X has {x.shape[0]} samples but y has {y_shape[0]} labels in {path}; they must match"
        )
    for head in (x, y):
        if head.dtype.kind == "c":
            fix = (
                "store real features, e.g. np.abs(X), or the real and imaginary parts as two features: "
                "np.concatenate([X.real, X.imag], axis=1)"
                if head.key == "X"
                else "store integer class labels or float targets"
            )
            raise UserError(
                f"{head.key} in {path} holds complex numbers (dtype {head.dtype}); the imaginary part would "
                f"be lost; {fix}"
            )
    for labels in (y, heads.get("class_names")):
        if labels is not None and labels.dtype.kind == "S":
            raise UserError(
                f"{labels.key} in {path} holds bytes strings (dtype {labels.dtype}), not text; decode them to "
                f"str ({labels.key}.astype(str)) or map them to integer class indices 0..K-1, then save again"
            )
    if x.dtype.kind not in "biuf":
        raise UserError(f"X in {path} is not numeric (dtype {x.dtype}); store numbers")
    if x.shape[0] == 0:
        raise UserError(
            f"{path} holds no samples (X has shape {x.shape}); store at least one sample per class"
        )


def available_memory() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def _check_memory(x: _Header, path: Path) -> None:
    """Refuse before allocating an X that (with the float32 copy loading makes) would not fit in memory."""
    count = x.nbytes // max(x.dtype.itemsize, 1)
    image = len(x.shape) in (3, 4) and x.dtype == np.uint8
    need = x.nbytes + (x.nbytes if image else count * 4)  # a uint8 image set is copied once (layout)
    free = available_memory()
    if need > MEMORY_SHARE * free:
        raise UserError(
            f"{path}: X ({'x'.join(map(str, x.shape))} {x.dtype}) needs {bytes_text(need)} of memory to load "
            f"but only {bytes_text(free)} is available; free memory (close other programs), keep fewer "
            "samples in the file, or store the images in an image folder (streamed from disk)"
        )


def _labels(zf: zipfile.ZipFile, heads: dict[str, _Header], path: Path, task: str):
    y = _read_member(zf, heads["y"], path).reshape(-1)
    names = None
    if "class_names" in heads:
        values = _read_member(zf, heads["class_names"], path)
        if values.ndim != 1 or len(values) > MAX_CLASSES:
            raise UserError(f"class_names in {path} must be a list of at most {MAX_CLASSES:,} names")
        names = [str(v) for v in values]
    return _targets(y, names, path, task)


def read_npz_headers(settings, progress=None, cancel=None) -> RawData:
    """What inspection needs: X's shape from its header (x=None, `shape` set), y and class_names read, a
    float X's values checked chunk by chunk. Memory: the labels and one chunk, whatever X inflates to."""
    path = Path(settings.source).expanduser()
    if progress:
        progress(0, 1, f"Reading {path.name}")
    with _open(path) as zf:
        heads = _headers(zf, path)
        task, y, names = _labels(zf, heads, path, settings.options.get("task", "auto"))
        _stream_check_finite(zf, heads["X"], f"X in {path}", path, cancel)
    x = heads["X"]
    extra: dict[str, Any] = {"file": str(path)}
    image = _image_shape(x.shape)
    if image is not None and x.dtype == np.uint8:
        return RawData(
            modality=IMAGE, y=y, class_names=names, task=task, shape=image, scale=255.0, extra=extra
        )
    features = int(np.prod(x.shape[1:]))
    extra["features"] = [f"x{i}" for i in range(features)]
    return RawData(modality=TABULAR, y=y, class_names=names, task=task, shape=(features,), extra=extra)


def _image_shape(shape: tuple[int, ...]) -> tuple[int, int, int] | None:
    """(C, H, W) of a sample of X shaped (N, H, W), (N, C, H, W) or channels last (N, H, W, C); None: not images."""
    if len(shape) == 3:
        return (1, shape[1], shape[2])
    if len(shape) == 4:
        if shape[1] not in (1, 3) and shape[-1] in (1, 3):
            return (shape[3], shape[1], shape[2])
        return (shape[1], shape[2], shape[3])
    return None


def load_npz(settings, progress=None, cancel=None) -> RawData:
    path = Path(settings.source).expanduser()
    if progress:
        progress(0, 1, f"Reading {path.name}")
    with _open(path) as zf:
        heads = _headers(zf, path)
        task, y, names = _labels(zf, heads, path, settings.options.get("task", "auto"))
        _check_memory(heads["X"], path)
        x = _read_member(zf, heads["X"], path)
    check_finite(x, f"X in {path}")
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
    if y.dtype.kind == "U":
        classes = sorted({str(v) for v in y})
        return "classification", np.searchsorted(np.array(classes), y.astype(str)).astype(np.int64), classes
    if not np.issubdtype(y.dtype, np.number) and y.dtype != bool:
        raise UserError(f"y in {path} has dtype {y.dtype}; store integer class labels or float targets")
    check_finite(y, f"y in {path}")
    whole = np.issubdtype(y.dtype, np.integer) or y.dtype == bool or bool(np.all(np.mod(y, 1) == 0))
    if task == "regression" or (task == "auto" and not whole):
        return "regression", y.astype(np.float32), []
    if y.dtype.kind == "f" and (y.min() < -(2**62) or y.max() > 2**62):
        raise UserError(
            f"y in {path} has the label {y.max() if y.max() > 0 else y.min():g}; class labels must "
            f"be 0..K-1 with K at most {MAX_CLASSES:,} (for a regression target set the task option to "
            "regression)"
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
            raise UserError(_non_finite(what, flat[i], where))


def _non_finite(what: str, value, where) -> str:
    return (
        f"{what} holds the non-finite value {value} (at index {tuple(int(v) for v in where)});"
        " replace inf / NaN values before training"
    )


def is_npz(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".npz"
