"""Image folder source: one subfolder per class (PNG, JPEG, BMP, GIF, WebP), grayscale or RGB.

    root/cat/001.png, root/cat/002.jpg, root/dog/a.webp, ...

Non-image and undecodable files are skipped and listed with path and reason. Images of mixed sizes need a
`resize`; the message says so. An optional separate validation folder (`val_source`, same layout) becomes the
val split. Sets larger than the in-memory budget are indexed only and decoded per batch (streaming).
"""

from __future__ import annotations

import os
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
COLOR_MODES = {"RGB", "RGBA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"}


def _open_dir(path: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as it:
            return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except FileNotFoundError:
        raise UserError(f"folder not found: {path}; choose an existing folder") from None
    except NotADirectoryError:
        raise UserError(f"{path} is a file, not a folder; an image folder holds one subfolder per class") from None
    except PermissionError:
        raise UserError(f"cannot read folder {path}: permission denied; check its permissions") from None


def index_folder(root: Path, skipped: list[dict[str, str]], class_names: list[str] | None = None
                 ) -> tuple[list[str], list[str], list[int]]:
    """(class names, file paths, labels). Files outside class folders and non-image files go to `skipped`."""
    entries = _open_dir(root)
    classes = [e.name for e in entries if e.is_dir()]
    for e in entries:
        if not e.is_dir():
            skipped.append({"path": e.path, "reason": "not inside a class subfolder"})
    if not classes:
        raise UserError(f"folder {root} has no class subfolders; put the images in one subfolder per class "
                        f"({root}/<class name>/<image>.png)")
    if class_names is not None:
        unknown = sorted(set(classes) - set(class_names))
        if unknown:
            raise UserError(f"validation folder {root} has classes the training folder lacks: "
                            f"{', '.join(unknown[:5])}; use the same class subfolders in both")
        classes = class_names
    paths: list[str] = []
    labels: list[int] = []
    kept_classes: list[str] = []
    for name in classes:
        folder = root / name
        if not folder.is_dir():
            continue
        found = []
        for dirpath, dirnames, filenames in os.walk(folder, onerror=lambda e: skipped.append(
                {"path": str(e.filename), "reason": f"cannot read: {e.strerror}"})):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for fn in sorted(filenames):
                if fn.startswith("."):
                    continue
                full = os.path.join(dirpath, fn)
                if fn.lower().endswith(IMAGE_EXTENSIONS):
                    found.append(full)
                else:
                    skipped.append({"path": full, "reason": f"not an image file ({Path(fn).suffix or 'no extension'};"
                                    f" expected {', '.join(e[1:] for e in IMAGE_EXTENSIONS)})"})
        if not found and class_names is None:
            skipped.append({"path": str(folder), "reason": "class folder has no images; class left out"})
            continue
        label = len(kept_classes) if class_names is None else class_names.index(name)
        kept_classes.append(name)
        paths.extend(found)
        labels.extend([label] * len(found))
    if not paths:
        raise UserError(f"folder {root} has no images in its class subfolders (looked for "
                        f"{', '.join(e[1:] for e in IMAGE_EXTENSIONS)} files)")
    return (kept_classes if class_names is None else class_names), paths, labels


def _pil_mode(img) -> str:
    return "RGB" if img.mode in COLOR_MODES else "L"


def decode_image(path: str, mode: str | None, size: tuple[int, int] | None) -> np.ndarray:
    """uint8 (C, H, W). `mode` "L" / "RGB", or None for the image's own (grayscale or colour)."""
    from PIL import Image

    with Image.open(path) as img:
        img.seek(0)                                   # first frame of an animated GIF / WebP
        img.load()
        img = img.convert(mode or _pil_mode(img))
        if size is not None and img.size != (size[1], size[0]):
            img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR, reducing_gap=None)
        arr = np.array(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _reason(exc: Exception) -> str:
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
        return decode_image(self.paths[i], self.mode, self.size)


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
        _, vpaths, vlabels = index_folder(Path(settings.val_source).expanduser(), skipped, class_names=classes)
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
            for i, result in enumerate(pool.map(decode, paths[start:start + CHUNK]), start):
                if isinstance(result, Exception):
                    skipped.append({"path": paths[i], "reason": _reason(result)})
                else:
                    images.append(result)
                    kept.append(i)
    if progress:
        progress(total, total, f"Decoded {len(images):,} images")
    if not images:
        raise UserError(f"none of the {total} image files in {root} could be decoded; see the skipped list")
    if mode is None and any(im.shape[0] == 3 for im in images):     # mixed: grayscale ones become RGB
        images = [np.repeat(im, 3, axis=0) if im.shape[0] == 1 else im for im in images]
    _check_sizes(images, [paths[i] for i in kept])
    y = np.asarray(labels, dtype=np.int64)[kept]
    return RawData(modality=IMAGE, x=np.stack(images), y=y, class_names=classes, scale=255.0,
                   paths=[paths[i] for i in kept], preset=None if preset is None else preset[kept],
                   skipped=skipped, extra={"root": str(root)})


def _check_sizes(images: list[np.ndarray], paths: list[str]) -> None:
    sizes = Counter(im.shape[1:] for im in images)
    if len(sizes) > 1:
        common = sizes.most_common()
        (h, w), _ = common[0]
        odd = next(p for p, im in zip(paths, images, strict=True) if im.shape[1:] != (h, w))
        listing = ", ".join(f"{a}x{b}: {n}" for (a, b), n in common[:4])
        raise UserError(f"the images have different sizes ({listing} images, e.g. {odd}); set Resize to a "
                        f"common size such as {h}x{w} to use them all")


def _should_stream(in_memory, paths, mode, size, limit) -> bool:
    if in_memory in (True, "yes"):
        return False
    if in_memory in (False, "no"):
        return True
    from PIL import Image

    try:
        with Image.open(paths[0]) as img:
            h, w = size or (img.size[1], img.size[0])
            c = 3 if (mode or _pil_mode(img)) == "RGB" else 1
    except Exception:  # noqa: BLE001 - the decode pass reports it
        return False
    return len(paths) * c * h * w * 4 > limit


def _index_only(paths, labels, classes, skipped, preset, mode, size, progress, cancel) -> RawData:
    """Streaming: read headers only (size, mode); pixels are decoded per batch by `ImageFileReader`."""
    from PIL import Image

    kept, sizes, color = [], Counter(), False
    for i, path in enumerate(paths):
        if i % 256 == 0:
            if cancel is not None and cancel():
                raise Cancelled("loading cancelled")
            if progress:
                progress(i, len(paths), f"Indexing images {i:,} / {len(paths):,}")
        try:
            with Image.open(path) as img:
                sizes[(img.size[1], img.size[0])] += 1
                color |= _pil_mode(img) == "RGB"
            kept.append(i)
        except Exception as exc:  # noqa: BLE001
            skipped.append({"path": path, "reason": _reason(exc)})
    if size is None:
        if len(sizes) > 1:
            listing = ", ".join(f"{a}x{b}: {n}" for (a, b), n in sizes.most_common(4))
            h, w = sizes.most_common(1)[0][0]
            raise UserError(f"the images have different sizes ({listing} images); set Resize to a common size "
                            f"such as {h}x{w} to use them all")
        size = next(iter(sizes))
    mode = mode or ("RGB" if color else "L")
    kept_paths = [paths[i] for i in kept]
    reader = ImageFileReader(kept_paths, mode, size)
    return RawData(modality=IMAGE, x=None, read=reader, shape=(3 if mode == "RGB" else 1, *size),
                   y=np.asarray(labels, dtype=np.int64)[kept], class_names=classes, scale=255.0,
                   paths=kept_paths, preset=None if preset is None else preset[kept], skipped=skipped,
                   extra={"root": str(Path(kept_paths[0]).parents[1]) if kept_paths else "",
                          "streaming_note": "indexed only; images are decoded per batch"})


def looks_like_imagefolder(path: Path) -> bool:
    if not path.is_dir():
        return False
    subdirs = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return bool(subdirs) and any(
        f.suffix.lower() in IMAGE_EXTENSIONS for d in subdirs[:20] for f in list(d.iterdir())[:50])
