"""The built-in digits set: scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes, offline)."""

from __future__ import annotations

import numpy as np

from workbench.core.data.raw import IMAGE, RawData


def load_digits_source(settings, progress=None, cancel=None) -> RawData:
    from sklearn.datasets import load_digits

    if progress:
        progress(0, 1, "Reading scikit-learn's digits")
    digits = load_digits()
    x = digits.images.astype(np.uint8)[:, None, :, :]  # (1797, 1, 8, 8), values 0..16
    y = digits.target.astype(np.int64)
    if progress:
        progress(1, 1, f"Read {len(y)} digits")
    return RawData(
        modality=IMAGE,
        x=x,
        y=y,
        class_names=[str(c) for c in digits.target_names],
        scale=16.0,
        extra={"source_note": "scikit-learn load_digits(): 8x8 images, values 0..16"},
    )


def is_digits(path) -> bool:
    return str(path).strip().lower() == "digits"
