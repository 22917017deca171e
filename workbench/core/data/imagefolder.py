"""Image folder source: one subfolder per class (PNG, JPEG, BMP, GIF, WebP), grayscale or RGB.

    root/cat/001.png, root/cat/002.jpg, root/dog/a.webp, ...

Non-image and undecodable files are skipped and listed with path and reason. Images of mixed sizes need a
`resize`; the message says so. An optional separate validation folder (`val_source`, same layout) becomes the
val split. Sets larger than the in-memory budget are indexed only and decoded per batch (streaming).
"""

from __future__ import annotations

import os
import stat
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from workbench.core.data.imageops import parse_size
from workbench.core.data.raw import IMAGE, UNASSIGNED, VAL, RawData
from workbench.core.errors import Cancelled, UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
DECODE_THREADS = min(4, os.cpu_count() or 1)
CHUNK = 256
MAX_FILES = 2_000_000  # entries walked in a dataset folder
MAX_DEPTH = 32  # folder levels inside a class folder
MAX_CLASSES = 10_000  # class subfolders
MAX_IMAGE_PIXELS = 64_000_000  # declared width x height of one image (8000 x 8000); checked before decoding
COLOR_MODES = {"RGB", "RGBA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"}


def _open_dir(path: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as it:
            return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except FileNotFoundError:
        raise UserError(f"folder not found: {path}; choose an existing folder") from None
    except NotADirectoryError:
        raise UserError(
            f"{path} is a file, not a folder; an image folder holds one subfolder per class"
        ) from None
    except PermissionError:
        raise UserError(f"cannot read folder {path}: permission denied; check its permissions") from None


def index_folder(
    root: Path, skipped: list[dict[str, str]], class_names: list[str] | None = None
) -> tuple[list[str], list[str], list[int]]:
    """(class names, file paths, labels). Files outside class folders, non-image files, special files (FIFOs,
    devices) and links that lead out of `root` go to `skipped`; the walk stops with an error past MAX_FILES."""
    entries = _open_dir(root)
    root_real = os.path.realpath(root)
    budget = [MAX_FILES]
    classes = []
    for e in entries:
        if not _inside_root(e, root_real, skipped):
            continue
        if e.is_dir():
            classes.append(e.name)
        else:
            skipped.append({"path": e.path, "reason": "not inside a class subfolder"})
    if not classes:
        raise UserError(
            f"folder {root} has no class subfolders; put the images in one subfolder per class "
            f"({root}/<class name>/<image>.png)"
        )
    if class_names is not None:
        unknown = sorted(set(classes) - set(class_names))
        if unknown:
            raise UserError(
                f"validation folder {root} has classes the training folder lacks: "
                f"{', '.join(unknown[:5])}; use the same class subfolders in both"
            )
        classes = [c for c in class_names if c in classes]
    if len(classes) > MAX_CLASSES:
        raise UserError(
            f"folder {root} has {len(classes):,} class subfolders, more than the limit of "
            f"{MAX_CLASSES:,}; is it the right folder?"
        )
    paths: list[str] = []
    labels: list[int] = []
    kept_classes: list[str] = []
    for name in classes:
        folder = root / name
        found = _walk_class(folder, root, root_real, skipped, budget)
        if not found and class_names is None:
            skipped.append({"path": str(folder), "reason": "class folder has no images; class left out"})
            continue
        label = len(kept_classes) if class_names is None else class_names.index(name)
        kept_classes.append(name)
        paths.extend(found)
        labels.extend([label] * len(found))
    if not paths:
        raise UserError(
            f"folder {root} has no images in its class subfolders (looked for "
            f"{', '.join(e[1:] for e in IMAGE_EXTENSIONS)} files)"
        )
    return (kept_classes if class_names is None else class_names), paths, labels


def _inside_root(entry: os.DirEntry, root_real: str, skipped: list[dict[str, str]]) -> bool:
    """A link is followed only when it stays inside the dataset folder."""
    if not entry.is_symlink():
        return True
    target = os.path.realpath(entry.path)
    if target == root_real or target.startswith(root_real.rstrip(os.sep) + os.sep):
        return True
    skipped.append(
        {"path": entry.path, "reason": f"a link to {target}, outside the dataset folder; not followed"}
    )
    return False


def _walk_class(
    folder: Path, root: Path, root_real: str, skipped: list[dict[str, str]], budget: list[int]
) -> list[str]:
    """Image files under one class folder, sorted, without following links out of the dataset folder, without
    visiting a folder twice (link loops) and at most MAX_DEPTH levels deep."""
    found: list[str] = []
    seen: set[str] = set()
    stack = [(str(folder), 0)]
    while stack:
        dirpath, depth = stack.pop()
        real = os.path.realpath(dirpath)
        if real in seen:
            continue
        seen.add(real)
        try:
            with os.scandir(dirpath) as it:
                entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
        except OSError as exc:
            skipped.append({"path": dirpath, "reason": f"cannot read: {exc.strerror or exc}"})
            continue
        subdirs = []
        for e in entries:
            budget[0] -= 1
            if budget[0] < 0:
                raise UserError(
                    f"the dataset folder {root} holds more than {MAX_FILES:,} files (the limit); "
                    "choose a smaller folder"
                )
            if not _inside_root(e, root_real, skipped):
                continue
            try:
                if e.is_dir():
                    if depth + 1 > MAX_DEPTH:
                        skipped.append(
                            {"path": e.path, "reason": f"nested more than {MAX_DEPTH} folders deep"}
                        )
                    else:
                        subdirs.append(e.path)
                    continue
                regular = e.is_file() and stat.S_ISREG(e.stat().st_mode)
            except OSError as exc:
                skipped.append({"path": e.path, "reason": f"cannot read: {exc.strerror or exc}"})
                continue
            if not e.name.lower().endswith(IMAGE_EXTENSIONS):
                skipped.append(
                    {
                        "path": e.path,
                        "reason": f"not an image file ({Path(e.name).suffix or 'no extension'};"
                        f" expected {', '.join(x[1:] for x in IMAGE_EXTENSIONS)})",
                    }
                )
            elif not regular:
                skipped.append({"path": e.path, "reason": "not a regular file (a FIFO, device or socket)"})
            else:
                found.append(e.path)
        stack.extend((d, depth + 1) for d in reversed(subdirs))
    return found


class ImageTooLarge(ValueError):
    """An image whose header declares more pixels than MAX_IMAGE_PIXELS (refused before decoding)."""


def open_image(path: str):
    """PIL image from a regular file, its declared size checked before any pixel is decoded."""
    from PIL import Image

    from workbench.core.io import open_regular_file

    fh = open_regular_file(path, "image")
    try:
        with warnings.catch_warnings():  # our own limit below is lower than PIL's warning threshold
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(fh)
    except Image.DecompressionBombError:
        fh.close()
        raise ImageTooLarge(
            f"the image declares more than twice PIL's limit of {Image.MAX_IMAGE_PIXELS:,} pixels "
            f"(Workbench's limit is {MAX_IMAGE_PIXELS:,})"
        ) from None
    except BaseException:
        fh.close()
        raise
    w, h = img.size
    if w * h > MAX_IMAGE_PIXELS:
        img.close()
        fh.close()
        raise ImageTooLarge(
            f"the image declares {w}x{h} pixels, more than the limit of {MAX_IMAGE_PIXELS:,} pixels"
        )
    setattr(img, "_wb_file", fh)  # noqa: B010 - not a PIL attribute; closed with the image (see _close)
    return img


def _close(img) -> None:
    img.close()
    fh = getattr(img, "_wb_file", None)
    if fh is not None:
        fh.close()


def _pil_mode(img) -> str:
    return "RGB" if img.mode in COLOR_MODES else "L"


def decode_image(path: str, mode: str | None, size: tuple[int, int] | None) -> np.ndarray:
    """uint8 (C, H, W). `mode` "L" / "RGB", or None for the image's own (grayscale or colour)."""
    from PIL import Image

    img = open_image(path)
    try:
        img.seek(0)  # first frame of an animated GIF / WebP
        img.load()
        out = img.convert(mode or _pil_mode(img))
        if size is not None and out.size != (size[1], size[0]):
            out = out.resize((size[1], size[0]), Image.Resampling.BILINEAR, reducing_gap=None)
        arr = np.array(out, dtype=np.uint8)
    finally:
        _close(img)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ImageTooLarge | UserError):
        return str(exc)
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot read: {exc.strerror}"
    text = str(exc) or type(exc).__name__
    return f"cannot decode image: {text}"


class ImageFileReader:
    """Picklable `read(i) -> uint8 (C, H, W)` for streaming (DataLoader workers)."""

    def __init__(self, paths: list[str], mode: str, size: tuple[int, int]):
        self.paths, self.mode, self.size = paths, mode, size

    def __call__(self, i: int) -> np.ndarray:
        try:
            return decode_image(self.paths[i], self.mode, self.size)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - a file changed or broken since it was indexed is bad input
            raise UserError(
                f"image {self.paths[i]} can no longer be read ({_reason(exc)}); fix or remove it and "
                "start again"
            ) from None


def _fixed_mode(color: str) -> str | None:
    return {"grayscale": "L", "rgb": "RGB"}.get(color)


def load_imagefolder(settings, progress=None, cancel=None) -> RawData:
    from workbench.core.data.loader import MATERIALIZE_LIMIT

    opts = settings.options
    size = parse_size(opts.get("resize"))
    mode = _fixed_mode(opts.get("color", "auto"))
    root = Path(settings.source).expanduser()
    skipped: list[dict[str, str]] = []
    if progress:
        progress(0, 0, f"Indexing {root}")
    classes, paths, labels = index_folder(root, skipped)
    preset = None
    if settings.val_source:
        _, vpaths, vlabels = index_folder(
            Path(settings.val_source).expanduser(), skipped, class_names=classes
        )
        preset = np.array([UNASSIGNED] * len(paths) + [VAL] * len(vpaths), dtype=np.int8)
        paths, labels = paths + vpaths, labels + vlabels
    stream = _should_stream(opts.get("in_memory", "auto"), paths, mode, size, MATERIALIZE_LIMIT)
    if stream:
        return _index_only(paths, labels, classes, skipped, preset, mode, size, progress, cancel)
    images, kept = [], []
    total = len(paths)

    def decode(path: str):
        try:
            return decode_image(path, mode, size)
        except Exception as exc:  # noqa: BLE001 - any decoder failure is a skipped file, listed with its reason
            return exc

    # PIL releases the GIL while it decompresses, so a few threads decode in parallel.
    with ThreadPoolExecutor(max_workers=DECODE_THREADS, thread_name_prefix="wb-decode") as pool:
        for start in range(0, total, CHUNK):
            if cancel is not None and cancel():
                raise Cancelled("loading cancelled")
            if progress:
                progress(start, total, f"Decoding images {start:,} / {total:,}")
            for i, result in enumerate(pool.map(decode, paths[start : start + CHUNK]), start):
                if isinstance(result, Exception):
                    skipped.append({"path": paths[i], "reason": _reason(result)})
                else:
                    images.append(result)
                    kept.append(i)
    if progress:
        progress(total, total, f"Decoded {len(images):,} images")
    if not images:
        raise UserError(f"none of the {total} image files in {root} could be decoded; see the skipped list")
    if mode is None and any(im.shape[0] == 3 for im in images):  # mixed: grayscale ones become RGB
        images = [np.repeat(im, 3, axis=0) if im.shape[0] == 1 else im for im in images]
    _check_sizes(images, [paths[i] for i in kept])
    y = np.asarray(labels, dtype=np.int64)[kept]
    return RawData(
        modality=IMAGE,
        x=np.stack(images),
        y=y,
        class_names=classes,
        scale=255.0,
        paths=[paths[i] for i in kept],
        preset=None if preset is None else preset[kept],
        skipped=skipped,
        extra={"root": str(root)},
    )


def _check_sizes(images: list[np.ndarray], paths: list[str]) -> None:
    sizes = Counter(im.shape[1:] for im in images)
    if len(sizes) > 1:
        common = sizes.most_common()
        (h, w), _ = common[0]
        odd = next(p for p, im in zip(paths, images, strict=True) if im.shape[1:] != (h, w))
        listing = ", ".join(f"{a}x{b}: {n}" for (a, b), n in common[:4])
        raise UserError(
            f"the images have different sizes ({listing} images, e.g. {odd}); set Resize to a "
            f"common size such as {h}x{w} to use them all"
        )


def _should_stream(in_memory, paths, mode, size, limit) -> bool:
    if in_memory in (True, "yes"):
        return False
    if in_memory in (False, "no"):
        return True

    try:
        img = open_image(paths[0])
        h, w = size or (img.size[1], img.size[0])
        c = 3 if (mode or _pil_mode(img)) == "RGB" else 1
        _close(img)
    except Exception:  # noqa: BLE001 - the decode pass reports it
        return False
    return len(paths) * c * h * w * 4 > limit


def _index_only(paths, labels, classes, skipped, preset, mode, size, progress, cancel) -> RawData:
    """Streaming: read headers only (size, mode); pixels are decoded per batch by `ImageFileReader`."""

    kept: list[int] = []
    sizes: Counter[tuple[int, int]] = Counter()
    color = False
    for i, path in enumerate(paths):
        if i % 256 == 0:
            if cancel is not None and cancel():
                raise Cancelled("loading cancelled")
            if progress:
                progress(i, len(paths), f"Indexing images {i:,} / {len(paths):,}")
        try:
            img = open_image(path)
            sizes[(img.size[1], img.size[0])] += 1
            color |= _pil_mode(img) == "RGB"
            _close(img)
            kept.append(i)
        except Exception as exc:  # noqa: BLE001
            skipped.append({"path": path, "reason": _reason(exc)})
    if size is None:
        if len(sizes) > 1:
            listing = ", ".join(f"{a}x{b}: {n}" for (a, b), n in sizes.most_common(4))
            h, w = sizes.most_common(1)[0][0]
            raise UserError(
                f"the images have different sizes ({listing} images); set Resize to a common size "
                f"such as {h}x{w} to use them all"
            )
        size = next(iter(sizes))
    mode = mode or ("RGB" if color else "L")
    kept_paths = [paths[i] for i in kept]
    reader = ImageFileReader(kept_paths, mode, size)
    return RawData(
        modality=IMAGE,
        x=None,
        read=reader,
        shape=(3 if mode == "RGB" else 1, *size),
        y=np.asarray(labels, dtype=np.int64)[kept],
        class_names=classes,
        scale=255.0,
        paths=kept_paths,
        preset=None if preset is None else preset[kept],
        skipped=skipped,
        extra={
            "root": str(Path(kept_paths[0]).parents[1]) if kept_paths else "",
            "streaming_note": "indexed only; images are decoded per batch",
        },
    )


def looks_like_imagefolder(path: Path) -> bool:
    if not path.is_dir():
        return False
    from itertools import islice

    subdirs = [p for p in islice(path.iterdir(), 1000) if p.is_dir() and not p.name.startswith(".")]
    return bool(subdirs) and any(
        f.suffix.lower() in IMAGE_EXTENSIONS for d in subdirs[:20] for f in islice(d.iterdir(), 50)
    )
