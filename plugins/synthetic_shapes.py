"""Synthetic shapes: a data source that draws circles, squares, triangles and crosses on the fly.

An example single-file plugin that uses only the public API (`workbench.plugins`). It needs no files and no
download, so it is a quick way to try an architecture on images larger than the 8x8 digits: choose
"Synthetic shapes" in the Dataset panel, or `workbench data inspect shapes --kind shapes`.
Every image is drawn from a seeded random generator, so the same settings give the same data set.
"""

from __future__ import annotations

import numpy as np

from workbench.plugins import IMAGE, OptionSpec, Plugin, RawData, SourceType, UserError

PLUGIN = Plugin(
    name="Synthetic shapes",
    version="1.0.0",
    description="A data source of generated images: circles, squares, triangles and crosses at random "
    "positions, sizes and angles, with optional noise. Offline and reproducible.",
    author="Workbench examples",
)

CLASSES = ("circle", "square", "triangle", "cross")
OPTIONS = (
    OptionSpec("size", "Image size (px)", 16, minimum=8, maximum=128, help="height and width of each image"),
    OptionSpec("per_class", "Images per class", 150, minimum=10, maximum=20_000),
    OptionSpec(
        "noise",
        "Noise",
        0.1,
        minimum=0.0,
        maximum=1.0,
        help="standard deviation of Gaussian pixel noise, as a fraction of full brightness",
    ),
    OptionSpec(
        "color",
        "Colour",
        "grayscale",
        choices=("grayscale", "rgb"),
        help="grayscale = 1 channel; rgb = 3 channels with a random colour per shape",
    ),
    OptionSpec("seed", "Seed", 0, minimum=0, maximum=2**31 - 1, help="the same seed draws the same images"),
    OptionSpec("normalize", "Normalize", True, help="subtract the train split's mean, divide by its std"),
)


def _option(options: dict, name: str, kind: type):
    spec = next(o for o in OPTIONS if o.name == name)
    value = options.get(name, spec.default)
    try:
        value = kind(value)
    except (TypeError, ValueError):
        raise UserError(f"shapes option {name} must be a {kind.__name__}, not {value!r}") from None
    if spec.minimum is not None and not spec.minimum <= value <= spec.maximum:
        raise UserError(
            f"shapes option {name} must be between {spec.minimum:g} and {spec.maximum:g}, not {value}"
        )
    return value


def draw(label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One shape as a float mask (size, size) in 0..1."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    radius = rng.uniform(0.22, 0.4) * size
    cx, cy = rng.uniform(radius, size - radius, 2)
    angle = rng.uniform(0, 2 * np.pi)
    dx, dy = xx - cx, yy - cy
    u = dx * np.cos(angle) + dy * np.sin(angle)  # coordinates in the shape's own rotated frame
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    name = CLASSES[label]
    if name == "circle":
        mask = u**2 + v**2 <= radius**2
    elif name == "square":
        half = radius / np.sqrt(2)
        mask = (np.abs(u) <= half) & (np.abs(v) <= half)
    elif name == "triangle":
        corners = [
            (radius * np.cos(a), radius * np.sin(a)) for a in (np.pi / 2, np.pi * 7 / 6, np.pi * 11 / 6)
        ]
        mask = np.ones_like(u, dtype=bool)
        for (x1, y1), (x2, y2) in zip(corners, corners[1:] + corners[:1], strict=True):
            mask &= (x2 - x1) * (v - y1) - (y2 - y1) * (u - x1) >= 0
    else:  # cross
        arm = radius * 0.3
        mask = ((np.abs(u) <= arm) & (np.abs(v) <= radius)) | ((np.abs(v) <= arm) & (np.abs(u) <= radius))
    return mask.astype(np.float32)


def load_shapes(settings, progress=None, cancel=None) -> RawData:
    options = settings.options or {}
    size = _option(options, "size", int)
    per_class = _option(options, "per_class", int)
    noise = _option(options, "noise", float)
    seed = _option(options, "seed", int)
    color = options.get("color", "grayscale")
    if color not in ("grayscale", "rgb"):
        raise UserError(f"shapes option color must be grayscale or rgb, not {color!r}")
    channels = 3 if color == "rgb" else 1
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(CLASSES)), per_class)
    rng.shuffle(labels)
    images = np.empty((len(labels), channels, size, size), dtype=np.uint8)
    for i, label in enumerate(labels):
        if cancel is not None and i % 256 == 0 and cancel():
            from workbench.plugins import Cancelled

            raise Cancelled("loading cancelled")
        mask = draw(int(label), size, rng)
        tint = rng.uniform(0.35, 1.0, channels) if channels == 3 else np.ones(1)
        img = mask[None] * tint[:, None, None] * 0.85 + 0.1
        if noise:
            img = img + rng.normal(0, noise, img.shape)
        images[i] = np.clip(img * 255, 0, 255).round().astype(np.uint8)
        if progress is not None and i % 256 == 0:
            progress(i, len(labels), f"Drawing shapes ({i}/{len(labels)})")
    if progress is not None:
        progress(len(labels), len(labels), f"Drew {len(labels)} shapes")
    return RawData(
        modality=IMAGE,
        x=images,
        y=labels.astype(np.int64),
        class_names=list(CLASSES),
        scale=255.0,
        extra={"source_note": f"synthetic shapes, {size}x{size}, seed {seed}"},
    )


SHAPES = SourceType(
    kind="shapes",
    label="Synthetic shapes (generated)",
    load=load_shapes,
    path_mode="none",
    detect=lambda path: str(path).strip().lower() == "shapes",
    options=OPTIONS,
    description="Circles, squares, triangles and crosses drawn at random positions, sizes and angles. "
    "No files needed; the seed makes it reproducible.",
)


def register(api) -> None:
    api.add_source(SHAPES)
