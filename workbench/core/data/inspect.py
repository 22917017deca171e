"""What `workbench data inspect` reports about a source (docs/contract.md section 3), without splitting or tensors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from workbench.core.data.loader import read_source
from workbench.core.data.raw import IMAGE, TEXT
from workbench.core.data.registry import detect_kind
from workbench.core.data.settings import DatasetSettings


def settings_for(
    source: str,
    kind: str | None = None,
    target: str | None = None,
    options: dict | None = None,
    val_source: str | None = None,
) -> DatasetSettings:
    """DatasetSettings for a source given on the command line or in a dialog; the kind is detected if omitted."""
    kind = kind or detect_kind(source)
    return DatasetSettings(
        kind=kind,
        source="digits" if kind == "digits" else source,
        target=target,
        val_source=val_source,
        options=dict(options or {}),
    )


def inspect_source(
    settings: DatasetSettings, progress: Callable | None = None, cancel: Callable | None = None
) -> dict:
    """{"kind","num_samples","num_classes","class_names","input_shape","skipped"} plus a "details" dict."""
    raw = read_source(settings, progress, cancel, headers_only=True)
    if raw.modality == TEXT:
        from workbench.core.data.text import Tokenizer

        seq_len = int(settings.options.get("seq_len", 0))
        if not seq_len:
            opts = settings.options
            tokenizer = Tokenizer(opts.get("tokenizer") or "words", int(opts.get("vocab_size") or 10000))
            if raw.texts is None:  # the TypeError list(None) would raise
                raise TypeError(f"source {settings.kind!r} returned text data without texts")
            seq_len = tokenizer.fit(list(raw.texts)).seq_len
        shape = [seq_len]
    elif raw.task == "language_model":  # windows of block_size tokens (workbench.core.data.textfile)
        shape = [int(settings.options.get("block_size", 64) or 64)]
    elif raw.modality == IMAGE:
        shape = [int(s) for s in raw.sample_shape]
    elif raw.x is None and raw.shape is not None:  # read from headers only (npz)
        shape = [int(s) for s in raw.shape]
    else:
        if raw.x is None:  # the AttributeError None.shape would raise
            raise AttributeError(f"source {settings.kind!r} returned {raw.modality} data without x")
        shape = [int(raw.x.shape[1])]
    details: dict[str, Any] = {
        "task": raw.task,
        "modality": raw.modality,
        "input_dtype": "int64" if raw.modality in (TEXT, "lm") else "float32",
    }
    if raw.task == "classification":
        counts = np.bincount(raw.y, minlength=raw.num_classes)
        details["class_counts"] = {n: int(c) for n, c in zip(raw.class_names, counts, strict=False)}
    for key in (
        "characters",
        "missing",
        "encoding",
        "delimiter",
        "target",
        "text_column",
        "official_test",
        "features",
    ):
        if key in raw.extra:
            details[key] = raw.extra[key]
    num_samples, num_classes = len(raw), int(raw.num_classes)
    if raw.task == "language_model":  # windows and vocabulary: tokenizing a text is quick, so do it
        from workbench.core.data.textfile import tokenized

        tok, block, _, ids = tokenized(settings, raw)
        num_samples = sum(max(0, (len(i) - 1) // block) for i in ids.values())
        num_classes = tok.vocab_size
        details.update(vocab_size=num_classes, tokens={n: len(i) for n, i in ids.items()}, tokenizer=tok.mode)
    return {
        "kind": settings.kind,
        "num_samples": num_samples,
        "num_classes": num_classes,
        "class_names": list(raw.class_names) if raw.task == "classification" else [],
        "input_shape": shape,
        "skipped": [dict(s) for s in raw.skipped],
        "details": details,
    }
