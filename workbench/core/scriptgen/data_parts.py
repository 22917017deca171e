"""Data loading for generated training scripts. The source of these functions is copied verbatim into the
script (inspect.getsource), so each depends only on the standard library, NumPy and torch (plus scikit-learn,
Pillow or torchvision inside the reader that needs it), and they reproduce Workbench's loader: the same classes in
the same order, the same stratified split for the same seed, normalization fitted on the train split only.
Tests compare them with `workbench.core.data.load_dataset`."""

from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch

# -- readers: each returns {"modality", "x", "y", "class_names", "task", "scale", "preset"}
# ------------------------


def read_digits(data):
    """scikit-learn's bundled 8x8 digits: 1,797 images (values 0..16), 10 classes."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return {
        "modality": "image",
        "x": digits.images.astype(np.uint8)[:, None],
        "y": digits.target.astype(np.int64),
        "class_names": [str(c) for c in digits.target_names],
        "task": "classification",
        "scale": 16.0,
    }


def read_imagefolder(data):
    """One subfolder per class; images decoded with Pillow in the project's colour mode and size."""
    from PIL import Image

    extensions = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
    mode = {"grayscale": "L", "rgb": "RGB"}.get(data["options"].get("color", "auto"))
    size = data["resize"]  # (height, width) or None

    def index(root, classes=None):
        names = classes or sorted(
            e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith(".")
        )
        found = []
        for label, name in enumerate(names):
            for dirpath, dirnames, filenames in os.walk(Path(root) / name):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                found += [
                    (os.path.join(dirpath, f), label)
                    for f in sorted(filenames)
                    if not f.startswith(".") and f.lower().endswith(extensions)
                ]
        if classes is None:  # class folders without images are left out
            used = sorted({label for _, label in found})
            names = [names[i] for i in used]
            found = [(path, used.index(label)) for path, label in found]
        return names, found

    def decode(path):
        with Image.open(path) as img:
            img.seek(0)
            img.load()
            own = (
                "RGB"
                if img.mode in {"RGB", "RGBA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"}
                else "L"
            )
            img = img.convert(mode or own)
            if size is not None and img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR, reducing_gap=None)
            arr = np.array(img, dtype=np.uint8)
        return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)

    classes, files = index(data["source"])
    preset = [-1] * len(files)
    if data.get("val_source"):
        _, val_files = index(data["val_source"], classes)
        files, preset = files + val_files, preset + [1] * len(val_files)
    images, labels, marks = [], [], []
    for (path, label), mark in zip(files, preset, strict=True):
        try:
            images.append(decode(path))
        except Exception as exc:  # noqa: BLE001 - an unreadable file is skipped, as Workbench does
            print(f"skipped {path}: {exc}")
            continue
        labels.append(label)
        marks.append(mark)
    if any(im.shape[0] == 3 for im in images):  # mixed grayscale and colour: all become RGB
        images = [np.repeat(im, 3, axis=0) if im.shape[0] == 1 else im for im in images]
    return {
        "modality": "image",
        "x": np.stack(images),
        "y": np.asarray(labels, dtype=np.int64),
        "class_names": classes,
        "task": "classification",
        "scale": 255.0,
        "preset": np.asarray(marks, dtype=np.int8) if data.get("val_source") else None,
    }


def read_torchvision(data):
    """MNIST / FashionMNIST / CIFAR-10 from a local folder in torchvision's layout (never downloaded); the
    official test files become the test split."""
    import torchvision.datasets as tvd

    cls = {"mnist": tvd.MNIST, "fashionmnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[data["kind"]]
    parts = [cls(data["source"], train=train, download=False) for train in (True, False)]
    xs = [np.asarray(p.data) for p in parts]
    xs = [x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2) for x in xs]  # (N, C, H, W)
    ys = [np.asarray(p.targets, dtype=np.int64) for p in parts]
    preset = None
    if data["options"].get("official_test", True):
        preset = np.concatenate([np.full(len(ys[0]), -1), np.full(len(ys[1]), 2)]).astype(np.int8)
    return {
        "modality": "image",
        "x": np.ascontiguousarray(np.concatenate(xs)),
        "y": np.concatenate(ys),
        "class_names": list(parts[0].classes),
        "task": "classification",
        "scale": 255.0,
        "preset": preset,
    }


def read_npz(data):
    """Arrays X (samples first) and y; uint8 (N, H, W) / (N, C, H, W) are images, anything else features."""
    with np.load(data["source"], allow_pickle=False) as arrays:
        x, y = arrays["X"], np.asarray(arrays["y"]).reshape(len(arrays["y"]), -1)
        names = [str(s) for s in arrays["class_names"]] if "class_names" in arrays.files else None
    y = y[:, 0] if y.shape[1] == 1 else y
    task = data["options"].get("task", "auto")
    if y.dtype.kind in "US":
        names = sorted({str(v) for v in y})
        y, task = np.searchsorted(np.array(names), y.astype(str)).astype(np.int64), "classification"
    elif task == "regression" or (
        task == "auto"
        and not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool or bool(np.all(np.mod(y, 1) == 0)))
    ):
        y, task, names = y.astype(np.float32), "regression", []
    else:
        y, task = y.astype(np.int64), "classification"
        names = names or [str(i) for i in range(int(y.max()) + 1)]
    if x.ndim in (3, 4):
        x = x[:, None] if x.ndim == 3 else x
        if x.shape[1] not in (1, 3) and x.shape[-1] in (1, 3):  # channels last
            x = x.transpose(0, 3, 1, 2)
        if x.dtype == np.uint8:
            return {
                "modality": "image",
                "x": np.ascontiguousarray(x),
                "y": y,
                "class_names": names,
                "task": task,
                "scale": 255.0,
            }
    return {
        "modality": "tabular",
        "x": x.reshape(len(x), -1).astype(np.float32),
        "y": y,
        "class_names": names,
        "task": task,
        "scale": 1.0,
    }


def read_csv_table(data):
    """A header row, feature columns and a target column. Numbers are used as they are; text columns are one-hot
    encoded (categories sorted); missing values (empty, NA, ?, ...) drop the row or are imputed. With
    data["text_column"]: that column's texts (rows without text dropped), tokenized later (`tokenize_texts`)."""
    missing = {"", "na", "n/a", "nan", "null", "none", "?", "-", "missing"}
    opts = data["options"]

    def number(value):
        try:
            return float(value)
        except ValueError:
            if value.count(",") == 1 and "." not in value:
                try:
                    return float(value.replace(",", "."))
                except ValueError:
                    return None
            return None

    with open(data["source"], encoding=data["encoding"], newline="") as fh:
        rows = [
            [c.strip() for c in row]
            for row in csv.reader(fh, delimiter=data["delimiter"])
            if row and any(c.strip() for c in row)
        ]
    header, rows = rows[0], rows[1:]
    t_col = header.index(data["target"])
    features = [i for i in range(len(header)) if i != t_col]
    rows = [r for r in rows if r[t_col].lower() not in missing]
    text_col = header.index(data["text_column"]) if data.get("text_column") else None
    if text_col is not None:
        rows = [r for r in rows if r[text_col]]
        features = []
    numeric = {
        i: all(number(r[i]) is not None for r in rows if r[i].lower() not in missing) for i in features
    }
    if opts.get("missing", "drop") == "drop":
        rows = [r for r in rows if not any(r[i].lower() in missing for i in features)]
    blocks = []
    for i in features:
        values = [r[i] for r in rows]
        if numeric[i]:
            blocks.append(
                np.array([np.nan if v.lower() in missing else number(v) for v in values], dtype=np.float32)[
                    :, None
                ]
            )
            continue
        counts = Counter(v for v in values if v.lower() not in missing)
        mode, categories = counts.most_common(1)[0][0], sorted(counts)
        block = np.zeros((len(values), len(categories)), dtype=np.float32)
        for k, v in enumerate(values):
            block[k, categories.index(mode if v.lower() in missing else v)] = 1.0
        blocks.append(block)
    targets = [r[t_col] for r in rows]
    texts = [r[text_col] for r in rows] if text_col is not None else None
    nums = [number(v) for v in targets]
    task = opts.get("task", "auto")
    if all(n is not None for n in nums) and (
        task == "regression"
        or (task == "auto" and (not all(float(n).is_integer() for n in nums) or len(set(nums)) > 50))
    ):
        y, names, task = np.array(nums, dtype=np.float32), [], "regression"
    elif all(n is not None for n in nums):
        uniq = sorted(set(nums))
        y, names, task = (
            np.array([uniq.index(n) for n in nums], dtype=np.int64),
            [f"{u:g}" for u in uniq],
            "classification",
        )
    else:
        names = sorted(set(targets))
        y, task = np.array([names.index(v) for v in targets], dtype=np.int64), "classification"
    return {
        "modality": "tabular" if text_col is None else "text",
        "x": np.concatenate(blocks, axis=1) if blocks else None,
        "tokenize": (lambda train_idx: tokenize_texts(texts, train_idx, opts))
        if text_col is not None
        else None,
        "y": y,
        "class_names": names,
        "task": task,
        "scale": 1.0,
    }


# -- split and normalization
# -------------------------------------------------------------------------------------


def split_indices(y, fractions, seed, stratify=True, preset=None):
    """Sorted positions per split (train, val, test): stratified by class, reproducible for a seed. Samples
    the source already assigns (preset 0/1/2: an official test set, a validation folder) keep their split."""
    fractions = np.asarray(fractions, dtype=float)
    marks = np.full(len(y), -1, dtype=np.int8) if preset is None else np.asarray(preset, dtype=np.int8)
    free = [k for k in range(3) if not np.any(marks == k)]
    out = {k: [np.flatnonzero(marks == k)] for k in range(3)}
    todo = np.flatnonzero(marks == -1)
    if len(todo) and free:
        share = np.zeros(3)
        share[free] = fractions[free]
        if share.sum() <= 0:
            share[free[0]] = 1.0
        share /= share.sum()
        rng = np.random.default_rng(seed)
        groups = [todo[y[todo] == c] for c in np.unique(y[todo])] if stratify else [todo]
        members = np.concatenate([g[rng.permutation(len(g))] for g in groups])  # shuffled, grouped by class
        exact = share[free] * len(members)  # largest-remainder rounding; train never left empty
        counts = np.floor(exact).astype(int)
        for i in np.argsort(-(exact - counts), kind="stable")[: len(members) - counts.sum()]:
            counts[i] += 1
        if len(members) and counts[0] == 0:
            counts[int(np.argmax(counts))] -= 1
            counts[0] += 1
        # each split's labels spread evenly along the class-sorted members: every class gets its share (+-1)
        keys = np.concatenate([(np.arange(c) + 0.5) / c for c in counts if c])
        labels = np.concatenate([np.full(c, k) for k, c in enumerate(counts) if c])[
            np.argsort(keys, kind="stable")
        ]
        for pos, k in enumerate(free):
            out[k].append(members[labels == pos])
    elif len(todo):
        out[0].append(todo)
    return [np.sort(np.concatenate(out[k])).astype(np.int64) for k in range(3)]


def prepare_images(x, options, resize):
    """Colour mode and size on uint8 (N, C, H, W), as the project sets them."""
    color = options.get("color", "auto")
    if color == "grayscale" and x.shape[1] != 1:
        luma = np.array([0.299, 0.587, 0.114], dtype=np.float32)[: min(x.shape[1], 3)]
        gray = np.tensordot(x[:, :3].astype(np.float32), luma / luma.sum(), axes=([1], [0]))
        x = np.clip(np.rint(gray), 0, 255).astype(x.dtype)[:, None]
    elif color == "rgb" and x.shape[1] != 3:
        x = np.repeat(x[:, :1], 3, axis=1) if x.shape[1] == 1 else x[:, :3]
    if resize is not None and tuple(x.shape[2:]) != tuple(resize):
        out = torch.nn.functional.interpolate(
            torch.from_numpy(x.astype(np.float32)),
            size=tuple(resize),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )
        x = out.round_().clamp_(0, 255).numpy().astype(x.dtype)
    return x


def normalize(source, train_idx, enabled=True):
    """float32 tensors scaled to [0, 1] (images) and standardized with the train split's mean and std (per channel
    for images, per column for features; missing feature values take the train mean). Returns (x, mean, std)."""
    if source["modality"] == "image":
        x = source["x"].astype(np.float32) / source["scale"]
        if not enabled:
            return torch.from_numpy(x), None, None
        train = x[train_idx].astype(np.float64)
        mean, std = train.mean(axis=(0, 2, 3)), train.std(axis=(0, 2, 3))
        std[std < 1e-6] = 1.0
        x = (x - mean.reshape(1, -1, 1, 1).astype(np.float32)) / std.reshape(1, -1, 1, 1).astype(np.float32)
        return torch.from_numpy(np.ascontiguousarray(x)), mean.tolist(), std.tolist()
    x = source["x"].astype(np.float32, copy=True)
    with np.errstate(invalid="ignore"):
        fill = np.nanmean(x[train_idx], axis=0)
    fill = np.where(np.isnan(fill), 0.0, fill).astype(np.float32)
    holes = np.isnan(x)
    x[holes] = np.take(fill, np.nonzero(holes)[1])
    if not enabled:
        return torch.from_numpy(x), None, None
    mean, std = x[train_idx].mean(axis=0), x[train_idx].std(axis=0)
    std[std < 1e-8] = 1.0
    return torch.from_numpy((x - mean) / std), mean.tolist(), std.tolist()


def tokenize_texts(texts, train_idx, options):
    """(ids (N, seq_len) int64, facts) as Workbench tokenizes a CSV text column (docs/data.md): the vocabulary or
    the byte-level BPE tokenizer fitted on the train split only; ids left-padded with 0; seq_len 0 = the 95th
    percentile of the train texts' token counts (1 to 512)."""
    import re

    mode = options.get("tokenizer") or "words"
    size, seq_len = int(options.get("vocab_size") or 10000), int(options.get("seq_len") or 0)
    train = [texts[i] for i in train_idx]
    facts = {"tokenizer": mode}
    if mode == "bpe":
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

        bpe = Tokenizer(models.BPE(unk_token="<unk>"))
        bpe.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
        bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        bpe.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=size,
            special_tokens=["<pad>", "<unk>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        bpe.train_from_iterator(train, trainer=trainer, length=len(train))
        ids = [list(e.ids) for e in bpe.encode_batch(list(texts))]
        facts.update(vocab_size=bpe.get_vocab_size(), tokenizer_json=bpe.to_str())
    else:
        word = re.compile(r"[\w']+")

        def split(text):
            return word.findall(text.lower()) if mode == "words" else list(text.lower())

        counts = Counter(token for text in train for token in split(text))
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: size - 2]
        vocab = ["<pad>", "<unk>"] + [token for token, _ in ranked]
        index = {token: i for i, token in enumerate(vocab)}
        ids = [[index.get(token, 1) for token in split(text)] for text in texts]
        facts.update(vocab_size=len(vocab), vocab=vocab)
    if seq_len == 0:
        lengths = np.array([len(ids[i]) for i in train_idx], dtype=np.float64)
        seq_len = int(min(512, max(1, np.ceil(np.percentile(lengths, 95))))) if len(lengths) else 1
    x = np.zeros((len(texts), seq_len), dtype=np.int64)
    for row, seq in enumerate(ids):
        seq = seq[:seq_len]
        if seq:
            x[row, seq_len - len(seq) :] = seq
    facts["seq_len"] = seq_len
    return torch.from_numpy(x), facts


def read_textfile(data):
    """A plain text file for a language model, decoded as Workbench decoded it, already split and cut into
    windows (`load_data` hands them on)."""
    text = Path(data["source"]).read_bytes().decode(data["encoding"])
    return {"modality": "lm", "task": "language_model", "windows": text_windows(data, text)}


def text_windows(data, text):
    """A language model's data as Workbench makes it (docs/data.md): train / val / test are contiguous ranges of
    the text in that order; the tokenizer (characters, or byte-level BPE) is fitted on the train range only; each
    range is cut into non-overlapping windows of block_size + 1 tokens: x = the first block_size tokens, y = the
    same shifted by one (the next tokens)."""
    options = data["options"]
    mode, block = options.get("tokenizer") or "chars", int(options.get("block_size") or 64)
    n, fractions = len(text), data["fractions"]
    train_end = round(n * fractions[0])
    val_end = min(train_end + round(n * fractions[1]), n) if fractions[2] > 0 else n
    parts = [text[:train_end], text[train_end:val_end], text[val_end:]]
    extra = {"modality": "lm", "tokenizer": mode, "block_size": block}
    if mode == "bpe":
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        bpe = Tokenizer(models.BPE())
        bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        bpe.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=int(options.get("vocab_size") or 1000),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        lines = parts[0].splitlines(keepends=True)
        bpe.train_from_iterator((lines[i : i + 1000] for i in range(0, len(lines), 1000)), trainer=trainer)
        encode = lambda part: bpe.encode(part).ids  # noqa: E731
        extra.update(vocab_size=bpe.get_vocab_size(), tokenizer_json=bpe.to_str())
    else:
        vocab = ["<unk>", *sorted(set(parts[0]))]
        index = {c: i for i, c in enumerate(vocab)}
        encode = lambda part: [index.get(c, 0) for c in part]  # noqa: E731
        extra.update(vocab_size=len(vocab), vocab=vocab)
    out = {}
    for name, part in zip(("train", "val", "test"), parts, strict=True):
        ids = torch.tensor(encode(part), dtype=torch.int64)
        count = max(0, (len(ids) - 1) // block)
        x = ids[: count * block].reshape(count, block)
        y = ids[1 : count * block + 1].reshape(count, block)
        out[name] = (x, y)
    out["meta"] = {
        "kind": data["kind"],
        "input_shape": [block],
        "task": "language_model",
        "num_classes": extra["vocab_size"],
        "class_names": [],
        "input_dtype": "int64",
        "mean": None,
        "std": None,
        "extra": extra,
    }
    return out


def load_data(data, reader):
    """{"train": (x, y), "val": ..., "test": ..., "meta": {...}}: read, split, normalize."""
    source = reader(data)
    if "windows" in source:  # a text file for a language model: split and cut by its reader
        return source["windows"]
    if source["modality"] == "image":
        source["x"] = prepare_images(source["x"], data["options"], data["resize"])
    y = source["y"]
    classification = source["task"] == "classification"
    parts = split_indices(y, data["fractions"], data["split_seed"], classification, source.get("preset"))
    extra = {"modality": source["modality"], "scale": source["scale"]}
    if source.get("tokenize"):  # text: the tokenizer is fitted on the train split
        x, tokens = source["tokenize"](parts[0])
        mean = std = None
        extra.update(tokens)
    else:
        x, mean, std = normalize(source, parts[0], data["options"].get("normalize", True))
    y = torch.from_numpy(np.ascontiguousarray(y.astype(np.int64 if classification else np.float32)))
    out = {name: (x[idx], y[idx]) for name, idx in zip(("train", "val", "test"), parts, strict=True)}
    out["meta"] = {
        "kind": data["kind"],
        "input_shape": list(x.shape[1:]),
        "task": source["task"],
        "num_classes": len(source["class_names"]) if classification else 0,
        "class_names": list(source["class_names"]) if classification else [],
        "input_dtype": "int64" if source["modality"] == "text" else "float32",
        "mean": mean,
        "std": std,
        "extra": extra,
    }
    return out


def augment(batch, flip=False, crop=0, rotation=0.0):
    """Random flip, whole-pixel shift of up to `crop` pixels and rotation of up to +-`rotation` degrees per image,
    in one affine_grid + grid_sample (zero padding: the mean after normalization)."""
    n, _, h, w = batch.shape
    dev = batch.device
    angle = (torch.rand(n) * 2 - 1) * rotation * (np.pi / 180.0)
    sign = torch.where(torch.rand(n) < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    tx = torch.round((torch.rand(n) * 2 - 1) * crop) * (2.0 / w) if crop else torch.zeros(n)
    ty = torch.round((torch.rand(n) * 2 - 1) * crop) * (2.0 / h) if crop else torch.zeros(n)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos * sign, -sin, tx], 1), torch.stack([sin * sign, cos, ty], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta.to(dev, batch.dtype), list(batch.shape), align_corners=False)
    return torch.nn.functional.grid_sample(
        batch, grid, mode="bilinear" if rotation else "nearest", padding_mode="zeros", align_corners=False
    )


READERS = {
    "digits": read_digits,
    "imagefolder": read_imagefolder,
    "csv": read_csv_table,
    "npz": read_npz,
    "mnist": read_torchvision,
    "fashionmnist": read_torchvision,
    "cifar10": read_torchvision,
    "textfile": read_textfile,
}
