"""load_dataset(settings) -> DataBundle: read the source, split, fit normalization / vocabulary on the train
split, materialize tensors (or stream from disk when the data would not fit the in-memory budget)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from workbench.core.data.augment import augment_from_options
from workbench.core.data.dataset import DataBundle, DatasetMeta, Split
from workbench.core.data.imageops import convert_color, parse_size, resize_images
from workbench.core.data.raw import IMAGE, SPLIT_NAMES, TABULAR, TEXT, RawData
from workbench.core.data.registry import get_source
from workbench.core.data.settings import DatasetSettings
from workbench.core.data.splits import check_classes, split_indices
from workbench.core.errors import Cancelled, UserError

MATERIALIZE_LIMIT = 1 << 30  # bytes of float32 tensors held in memory; larger image sets stream from disk

Progress = Callable[[int, int, str], None]


def check_cancel(cancel: Callable[[], bool] | None) -> None:
    if cancel is not None and cancel():
        raise Cancelled("loading cancelled")


def check_options(source, options: dict) -> None:
    """Every option the source declares is checked against its OptionSpec before anything is read: a choice
    from its list, a finite number within its minimum..maximum (e.g. seq_len, vocab_size, augment_rotation).
    Options the source does not declare are left to it."""
    import math

    for spec in source.options:
        if spec.name not in options or options[spec.name] in (None, ""):
            continue
        value = options[spec.name]
        where = f"dataset option {spec.name} = {value!r}"
        if spec.choices is not None:
            if (
                spec.name != "encoding"
                and value not in spec.choices
                and not (spec.name == "delimiter" and value == "\t")
            ):
                raise UserError(
                    f"{where} is not allowed; choose one of: {', '.join(repr(c) for c in spec.choices)}"
                )
            continue
        if isinstance(spec.default, bool) or not isinstance(spec.default, int | float):
            continue
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if (
            number is None
            or (isinstance(number, float) and not math.isfinite(number))
            or (isinstance(spec.default, int) and not float(number).is_integer())
        ):
            kind = "a whole number" if isinstance(spec.default, int) else "a finite number"
            raise UserError(f"{where} must be {kind}")
        low = -math.inf if spec.minimum is None else spec.minimum
        high = math.inf if spec.maximum is None else spec.maximum
        if not low <= number <= high:
            raise UserError(f"{where} is out of range; the limit is {low:g}..{high:g}")


def read_source(
    settings: DatasetSettings,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    headers_only: bool = False,
) -> RawData:
    """Only the source's own reading (no split / normalization): used by `load_dataset` and `data inspect`.
    `headers_only`: a source that registers `extra["read_headers"]` (npz) returns labels and the sample shape
    without the samples (`x=None`, `shape` set), for inspection."""
    source = get_source(settings.kind)
    check_options(source, settings.options)
    load = source.extra.get("read_headers") if headers_only else None
    raw = (load or source.load)(settings, progress, cancel)
    check_cancel(cancel)
    if raw.task == "classification":
        check_classes(raw.y, raw.class_names)
    elif len(raw.y) == 0:
        raise UserError("the data set has no samples")
    elif raw.task == "regression":
        check_target_magnitude(raw.y)
    if raw.modality == IMAGE and raw.x is not None:
        raw.x = convert_color(raw.x, settings.options.get("color", "auto"))
        raw.x = resize_images(raw.x, parse_size(settings.options.get("resize")))
    return raw


def load_dataset(
    settings: DatasetSettings, progress: Progress | None = None, cancel: Callable[[], bool] | None = None
) -> DataBundle:
    """Load the data set described by `settings`.

    `progress(done, total, message)` is called as work advances; `cancel()` returning True stops the job with
    `Cancelled`. Bad input raises `UserError` with what is wrong and how to fix it.
    """
    raw = read_source(settings, progress, cancel)
    if raw.task == "language_model":  # one text, split into contiguous ranges, not samples
        from workbench.core.data.textfile import lm_bundle

        bundle = lm_bundle(settings, raw, _split, progress)
        check_cancel(cancel)
        return bundle
    sp = settings.split
    parts = split_indices(
        raw.y, (sp.train, sp.val, sp.test), sp.seed, stratify=raw.task == "classification", preset=raw.preset
    )
    check_cancel(cancel)
    if progress:
        progress(1, 1, "Preparing tensors")
    normalize = bool(settings.options.get("normalize", True))
    if raw.modality == IMAGE:
        bundle = _image_bundle(settings, raw, parts, normalize)
    elif raw.modality == TABULAR:
        bundle = _tabular_bundle(settings, raw, parts, normalize)
    elif raw.modality == TEXT:
        from workbench.core.data.text import text_bundle_parts

        bundle = text_bundle_parts(settings, raw, parts, _meta, _split)
    else:
        raise UserError(f"source {settings.kind!r} returned unknown modality {raw.modality!r}")
    bundle.skipped = list(raw.skipped)
    bundle.paths = raw.paths
    check_cancel(cancel)
    return bundle


def _meta(settings: DatasetSettings, raw: RawData, input_shape, **kw) -> DatasetMeta:
    extra = {"modality": raw.modality, "scale": raw.scale, "num_samples": len(raw), **raw.extra}
    classes = list(raw.class_names) if raw.task == "classification" else []
    return DatasetMeta(
        kind=settings.kind,
        input_shape=tuple(int(s) for s in input_shape),
        num_classes=raw.num_classes,
        class_names=classes,
        task=raw.task,
        extra=extra,
        **kw,
    )


def _split(name: str, x, y) -> Split:
    from torch.utils.data import TensorDataset

    return Split(name=name, dataset=TensorDataset(x, y), x=x, y=y)


def _targets(raw: RawData, idx: np.ndarray):
    import torch

    y = raw.y[idx]
    return torch.from_numpy(
        np.ascontiguousarray(y.astype(np.int64 if raw.task == "classification" else np.float32))
    )


def _channel_stats(raw: RawData, train_idx: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean / std of the train split in [0, 1] units (at most 20,000 images when streaming)."""
    if raw.x is not None:
        sums = np.zeros(raw.x.shape[1]), np.zeros(raw.x.shape[1])
        count = 0
        for start in range(0, len(train_idx), 4096):
            chunk = raw.x[train_idx[start : start + 4096]].astype(np.float64) / raw.scale
            sums[0][:] += chunk.sum(axis=(0, 2, 3))
            sums[1][:] += (chunk**2).sum(axis=(0, 2, 3))
            count += chunk.shape[0] * chunk.shape[2] * chunk.shape[3]
        mean = sums[0] / count
        var = np.maximum(sums[1] / count - mean**2, 0.0)
    else:
        rng = np.random.default_rng(0)
        pick = train_idx if len(train_idx) <= 20000 else rng.choice(train_idx, 20000, replace=False)
        if raw.read is None:  # neither pixels nor a reader: the TypeError calling None would raise
            raise TypeError("the source returned image data with neither x nor read")
        imgs = np.stack([raw.read(int(i)) for i in pick]).astype(np.float64) / raw.scale
        mean, var = imgs.mean(axis=(0, 2, 3)), imgs.var(axis=(0, 2, 3))
    std = np.sqrt(var)
    std[std < 1e-6] = 1.0
    return [float(m) for m in mean], [float(s) for s in std]


def _image_bundle(settings, raw: RawData, parts: dict[str, np.ndarray], normalize: bool) -> DataBundle:
    import torch

    mean, std = _channel_stats(raw, parts["train"]) if normalize else (None, None)
    shape = raw.sample_shape
    nbytes = len(raw) * int(np.prod(shape)) * 4
    mode = settings.options.get("in_memory", "auto")
    stream = raw.x is None or mode in (False, "no") or (mode == "auto" and nbytes > MATERIALIZE_LIMIT)
    splits = {}
    for name in SPLIT_NAMES:
        idx = parts[name]
        if stream:
            if raw.read is None:
                raise UserError(f"source {settings.kind!r} cannot stream from disk; set in_memory to auto")
            from workbench.core.data.streaming import StreamingImageDataset

            ds = StreamingImageDataset(raw.read, idx, raw.y, raw.scale, mean, std)
            splits[name] = Split(name=name, dataset=ds, indices=idx.tolist())
            continue
        assert raw.x is not None  # `stream` is set when there are no pixels in memory
        x = torch.from_numpy(raw.x[idx]).float().div_(raw.scale)
        if normalize:
            x.sub_(torch.tensor(mean).view(1, -1, 1, 1)).div_(torch.tensor(std).view(1, -1, 1, 1))
        splits[name] = _split(name, x, _targets(raw, idx))
        splits[name].indices = idx.tolist()
    meta = _meta(settings, raw, shape, mean=mean, std=std)
    meta.extra["memory_bytes"] = 0 if stream else nbytes
    meta.extra["streaming"] = stream
    return DataBundle(
        meta=meta,
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        augment=augment_from_options(settings.options),
    )


def _tabular_bundle(settings, raw: RawData, parts: dict[str, np.ndarray], normalize: bool) -> DataBundle:
    import torch

    if raw.x is None:  # no feature array: the AttributeError `None.astype` would raise
        raise AttributeError("the source returned tabular data without x")
    x = raw.x.astype(np.float32, copy=True)
    train = x[parts["train"]]
    with np.errstate(invalid="ignore"):
        fill = (
            np.nanmean(train, axis=0, dtype=np.float64)
            if len(train)
            else np.zeros(x.shape[1], dtype=np.float32)
        )
    fill = np.where(np.isnan(fill), 0.0, fill).astype(np.float32)
    holes = np.isnan(x)
    if holes.any():  # impute with train-split column means
        x[holes] = np.take(fill, np.nonzero(holes)[1])
    mean = std = None
    if normalize:
        m, s = column_stats(x, parts["train"])
        normalize_columns(x, m, s)
        mean, std = [float(v) for v in m], [float(v) for v in s]
    else:
        check_magnitude(x, settings.kind)
    splits = {}
    for name in SPLIT_NAMES:
        idx = parts[name]
        splits[name] = _split(name, torch.from_numpy(np.ascontiguousarray(x[idx])), _targets(raw, idx))
        splits[name].indices = idx.tolist()
    meta = _meta(settings, raw, (x.shape[1],), mean=mean, std=std)
    meta.extra["memory_bytes"] = int(x.nbytes)
    meta.extra["streaming"] = False
    return DataBundle(meta=meta, train=splits["train"], val=splits["val"], test=splits["test"])


STATS_BYTES = 32 << 20  # float64 values of a feature matrix computed at a time
MAX_UNNORMALIZED = 1e6  # the largest feature magnitude accepted with normalization off
MAX_TARGET = 1e15  # the largest regression target: its square (the MSE loss) must stay far inside float32


def check_target_magnitude(y: np.ndarray) -> None:
    """Regression targets are not rescaled: one like 1e37 makes the loss inf at the first step."""
    if len(y) and float(np.max(np.abs(y))) > MAX_TARGET:
        i = int(np.argmax(np.abs(y)))
        raise UserError(
            f"the regression target of sample {i} is {float(y[i]):g}; targets beyond {MAX_TARGET:g} overflow "
            "the loss; scale the targets (e.g. divide them by a power of ten) before training"
        )


def column_stats(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std of `x[rows]` in float64, a block of rows at a time: float32 sums of values
    like 1e38 overflow (and print numpy warnings); float64 holds their squares. A std under 1e-8 becomes 1."""
    step = _rows_per_block(x)
    total = np.zeros(x.shape[1])
    for start in range(0, len(rows), step):
        total += x[rows[start : start + step]].sum(axis=0, dtype=np.float64)
    mean = total / max(len(rows), 1)
    squares = np.zeros(x.shape[1])
    for start in range(0, len(rows), step):
        squares += ((x[rows[start : start + step]] - mean) ** 2).sum(axis=0)
    std = np.sqrt(squares / max(len(rows), 1))
    std[std < 1e-8] = 1.0
    return mean, std


def normalize_columns(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> None:
    """x = (x - mean) / std in place, computed in float64 a block of rows at a time. A value the train split
    did not prepare for (e.g. 1e38 in a column that is constant in train) would not fit float32: refused."""
    step = _rows_per_block(x)
    for start in range(0, len(x), step):
        block = (x[start : start + step] - mean) / std
        big = np.abs(block) > np.finfo(np.float32).max
        if big.any():
            row, col = (int(v[0]) for v in np.nonzero(big))
            raise UserError(
                f"feature {col} of sample {start + row} is {x[start + row, col]:g}, "
                f"{block[row, col]:.3g} standard deviations from the train split's mean; scale the features "
                "or remove that sample"
            )
        x[start : start + step] = block


def check_magnitude(x: np.ndarray, kind: str) -> None:
    """With normalization off, features far from -1..1 (e.g. 1e38) overflow the first layer: refused."""
    step = _rows_per_block(x)
    for start in range(0, len(x), step):
        block = np.abs(x[start : start + step])
        if block.size and block.max() > MAX_UNNORMALIZED:
            row, col = np.unravel_index(int(block.argmax()), block.shape)
            raise UserError(
                f"feature {int(col)} of sample {start + int(row)} is {x[start + int(row), col]:g} and "
                f"normalization is off ({kind} data); turn on normalize (dataset option) or scale the features "
                f"to about -1..1 (at most {MAX_UNNORMALIZED:g})"
            )


def _rows_per_block(x: np.ndarray) -> int:
    return max(1, STATS_BYTES // (8 * max(int(x.shape[1]), 1)))
