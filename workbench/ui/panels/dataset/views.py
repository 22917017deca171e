"""Plain renderings of a loaded DataBundle: the summary line, the details text, the tables."""

from __future__ import annotations

from html import escape

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from workbench.core.data.dataset import DataBundle
from workbench.core.units import bytes_text, shape_text

SPLITS = ("train", "val", "test")


def summary_html(bundle: DataBundle) -> str:
    m = bundle.meta
    n = sum(len(bundle.split(s)) for s in SPLITS)
    classes = {
        "classification": f"{m.num_classes} classes",
        "language_model": f"language model, {m.num_classes:,} tokens in the vocabulary",
    }.get(m.task, "regression target")
    mem = bundle.meta.extra.get("memory_bytes", 0)
    where = "streamed from disk" if m.extra.get("streaming") else f"{bytes_text(mem)} in memory"
    splits = " \u00b7 ".join(f"{s} <b>{len(bundle.split(s)):,}</b>" for s in SPLITS)
    return (
        f"<b>{n:,}</b> samples \u00b7 <b>{classes}</b> \u00b7 input <b>{shape_text(m.input_shape)}</b> "
        f"{m.input_dtype} \u00b7 {where}<br>{splits}"
    )


def details_html(bundle: DataBundle) -> str:
    m, x = bundle.meta, bundle.meta.extra
    rows = [
        ("Kind", m.kind),
        ("Task", m.task),
        ("Input shape", shape_text(m.input_shape)),
        ("Input dtype", m.input_dtype),
    ]
    for s in SPLITS:
        rows.append((f"{s.capitalize()} samples", f"{len(bundle.split(s)):,}"))
    if m.mean is not None:
        fmt = ", ".join(f"{v:.4g}" for v in m.mean[:8]) + (" \u2026" if len(m.mean) > 8 else "")
        rows.append(("Mean (train)", fmt))
        rows.append(
            ("Std (train)", ", ".join(f"{v:.4g}" for v in m.std[:8]) + (" \u2026" if len(m.std) > 8 else ""))
        )
    rows.append(
        (
            "Memory",
            "streamed from disk (decoded per batch)"
            if x.get("streaming")
            else bytes_text(x.get("memory_bytes", 0)),
        )
    )
    if bundle.augment is not None:
        rows.append(("Augmentation", bundle.augment.describe()))
    for key, label in (
        ("encoding", "Encoding"),
        ("delimiter", "Delimiter"),
        ("target", "Target column"),
        ("text_column", "Text column"),
        ("tokenizer", "Tokenizer"),
        ("vocab_size", "Vocabulary"),
        ("seq_len", "Sequence length"),
        ("truncated", "Texts truncated"),
        ("root", "Folder"),
        ("file", "File"),
    ):
        if key in x:
            rows.append((label, repr(x[key]) if key == "delimiter" else str(x[key])))
    if "missing" in x:
        mi = x["missing"]
        text = f"{mi['policy']}: {mi['rows_dropped']:,} rows dropped"
        if mi["values_imputed"]:
            text += "; imputed " + ", ".join(f"{k} ({v})" for k, v in mi["values_imputed"].items())
        rows.append(("Missing values", text))
    if x.get("categorical"):
        rows.append(("One-hot columns", ", ".join(x["categorical"])))
    if bundle.skipped:
        rows.append(("Skipped files", f"{len(bundle.skipped):,} (see the Skipped tab)"))
    body = "".join(
        f"<tr><td style='padding-right:12px;color:#666'>{escape(k)}</td><td>{escape(str(v))}</td></tr>"
        for k, v in rows
    )
    return f"<table>{body}</table>"


def fill_table(
    table: QTableWidget, header: list[str], rows: list[list[str]], highlight: int | None = None
) -> None:
    table.clear()
    table.setColumnCount(len(header))
    table.setRowCount(len(rows))
    table.setHorizontalHeaderLabels(header)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            item = QTableWidgetItem(str(value))
            item.setToolTip(str(value))
            item.setFlags(item.flags() & ~Qt.ItemIsEditable)
            if c == highlight:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            table.setItem(r, c, item)
    table.resizeColumnsToContents()
    for c in range(len(header)):
        table.setColumnWidth(c, min(table.columnWidth(c), 320))


def make_table(name: str) -> QTableWidget:
    table = QTableWidget()
    table.setObjectName(name)
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectRows)
    table.setAlternatingRowColors(True)
    table.verticalHeader().setDefaultSectionSize(22)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.Interactive)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def token_frequencies(bundle: DataBundle, top: int = 30) -> tuple[list[str], dict[str, np.ndarray]]:
    """A language model's most frequent tokens in the train split (shown as text: ␣ a space, ↵ a line break)
    and how often each occurs per split."""
    from workbench.core.data.textfile import lm_tokenizer

    vocab = bundle.meta.num_classes
    counts = {s: np.bincount(np.asarray(bundle.split(s).y).ravel(), minlength=vocab) for s in SPLITS}
    ids = [int(i) for i in np.argsort(-counts["train"], kind="stable")[:top] if counts["train"][i]]
    tokenizer = lm_tokenizer(bundle.meta.extra)
    names = [tokenizer.decode([i]).replace(" ", "␣").replace("\n", "↵") or f"#{i}" for i in ids]
    return names, {s: c[ids] for s, c in counts.items()}


def sample_rows(bundle: DataBundle, split: str, picks: np.ndarray) -> tuple[list[str], list[list[str]]]:
    """Rows for non-image data not read from a CSV (e.g. npz features): values as the source had them; a text
    file's windows (language model) as their text, in order."""
    if bundle.meta.task == "language_model":
        from workbench.core.data.textfile import lm_tokenizer

        tokenizer = lm_tokenizer(bundle.meta.extra)
        windows = sorted(int(i) for i in picks)
        text = [tokenizer.decode(np.asarray(bundle.sample(split, i)[0]).tolist()) for i in windows]
        return ["window", "text"], [
            [str(i), t.replace("\n", "↵")] for i, t in zip(windows, text, strict=True)
        ]
    names = bundle.meta.extra.get("features") or [f"x{i}" for i in range(bundle.meta.input_shape[0])]
    rows = []
    for i in picks:
        x, y = bundle.sample(split, int(i))
        vals = np.asarray(x, dtype=np.float64)
        if bundle.meta.mean is not None:
            vals = vals * np.asarray(bundle.meta.std) + np.asarray(bundle.meta.mean)
        rows.append([bundle.label_name(y)] + [f"{v:.4g}" for v in vals[:200]])
    return ["label"] + list(names[:200]), rows
