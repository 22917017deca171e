"""The built-in data sources, registered through the same `register_source` plugins use."""

from __future__ import annotations

from workbench.core.data.digits import is_digits, load_digits_source
from workbench.core.data.registry import OptionSpec, SourceType, register_source

IMAGE_OPTIONS = (
    OptionSpec("color", "Colour", "auto", choices=("auto", "grayscale", "rgb"),
               help="auto keeps the images' own mode; grayscale = 1 channel, rgb = 3 channels"),
    OptionSpec("resize", "Resize to", "", help="e.g. 28 or 32x32 (height x width); empty keeps the size"),
    OptionSpec("normalize", "Normalize (train mean/std)", True),
    OptionSpec("augment_flip", "Random horizontal flip", False),
    OptionSpec("augment_crop", "Random crop (shift px)", 0, minimum=0, maximum=64),
    OptionSpec("augment_rotation", "Random rotation (deg)", 0.0, minimum=0, maximum=180),
)

register_source(SourceType(
    kind="digits", label="Digits (built-in, 8x8)", load=load_digits_source, path_mode="none",
    detect=is_digits, options=IMAGE_OPTIONS,
    description="scikit-learn's bundled handwritten digits: 1,797 grayscale 8x8 images, 10 classes. Offline."))
