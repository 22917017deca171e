"""CSV source: tabular features, or one text column (see `text.py`), and a target column.

- target: `settings.target`, else the last column. Strings or few whole numbers -> classification (classes
  sorted); continuous numbers -> regression (`meta.task="regression"`, `num_classes` 0). Option `task` forces it.
- numeric feature columns are used as they are; a numeric column with a stray word is an error naming the line.
- non-numeric feature columns: `categorical="onehot"` (default; `column=value` features, at most 100 values)
  or `"refuse"` (an error naming the column).
- missing values (empty, NA, N/A, NaN, null, ?, -): `missing="drop"` drops those rows (counted), `"impute"`
  fills numeric columns with the train split's mean and categorical ones with the most frequent value.
  Rows with a missing target are always dropped. Counts are in `meta.extra["missing"]`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from workbench.core.data.csvfile import CsvTable, is_missing, read_csv, to_float
from workbench.core.data.raw import TABULAR, TEXT, RawData
from workbench.core.errors import UserError

MAX_CATEGORIES = 100
MAX_CLASSES = 50


def load_csv(settings, progress=None, cancel=None) -> RawData:
    opts = settings.options
    path = Path(settings.source).expanduser()
    if progress:
        progress(0, 1, f"Reading {path.name}")
    table = read_csv(path, opts.get("encoding", "auto"), opts.get("delimiter", "auto"), bool(opts.get("header", True)))
    if len(table.header) < 2:
        raise UserError(f"{path} has a single column ({table.header[0]!r}); a CSV needs feature columns and a "
                        "target column (check the delimiter)")
    target = settings.target or table.header[-1]
    t_col = table.column(target)
    text_col = opts.get("text_column") or _guess_text_column(table, t_col)
    keep = [i for i, r in enumerate(table.rows) if not is_missing(r[t_col])]
    no_target = len(table.rows) - len(keep)
    policy = opts.get("missing", "drop")
    if policy not in ("drop", "impute"):
        raise UserError(f"missing-value policy {policy!r} is unknown; use drop or impute")
    info = {"file": str(path), "encoding": table.encoding, "delimiter": table.delimiter, "target": target,
            "header": table.header, "rows_in_file": len(table.rows)}
    if text_col:
        x_col = table.column(text_col)
        empty = [i for i in keep if not table.rows[i][x_col].strip()]
        keep = [i for i in keep if table.rows[i][x_col].strip()]
        task, y, names = _target(table, t_col, keep, opts.get("task", "auto"))
        info["missing"] = {"policy": "drop", "rows_without_target": no_target, "rows_dropped": no_target + len(empty),
                           "values_imputed": {}}
        info["text_column"] = text_col
        if progress:
            progress(1, 1, f"Read {len(keep):,} texts")
        return RawData(modality=TEXT, texts=[table.rows[i][x_col] for i in keep], y=y, class_names=names,
                       task=task, extra=info)
    features = [i for i in range(len(table.header)) if i != t_col]
    columns = {i: _column_kind(table, i, keep) for i in features}
    if policy == "drop":
        before = len(keep)
        keep = [r for r in keep if not any(is_missing(table.rows[r][i]) for i in features)]
        missing = {"policy": "drop", "rows_without_target": no_target, "rows_dropped": no_target + before - len(keep),
                   "values_imputed": {}}
    else:
        imputed = {table.header[i]: sum(is_missing(table.rows[r][i]) for r in keep) for i in features}
        missing = {"policy": "impute", "rows_without_target": no_target, "rows_dropped": no_target,
                   "values_imputed": {k: v for k, v in imputed.items() if v}}
    if not keep:
        raise UserError(f"no rows of {path} are left after dropping rows with missing values; set the missing-value"
                        " policy to impute")
    x, names_out = _features(table, features, columns, keep, opts.get("categorical", "onehot"))
    task, y, classes = _target(table, t_col, keep, opts.get("task", "auto"))
    info.update(missing=missing, features=names_out,
                categorical=[table.header[i] for i in features if columns[i] == "categorical"])
    if progress:
        progress(1, 1, f"Read {len(keep):,} rows")
    return RawData(modality=TABULAR, x=x, y=y, class_names=classes, task=task, extra=info)


def _column_kind(table: CsvTable, col: int, rows: list[int]) -> str:
    """numeric | categorical. A mostly-numeric column with a stray word is a typo: an error naming the line."""
    values = [(r, table.rows[r][col]) for r in rows if not is_missing(table.rows[r][col])]
    bad = [(r, v) for r, v in values if to_float(v) is None]
    if not bad:
        return "numeric"
    if len(bad) <= 0.1 * len(values):
        r, v = bad[0]
        raise UserError(f"column {table.header[col]!r} is numeric but line {table.lines[r]} has {v!r}; fix the "
                        "value or leave the cell empty (a missing value)")
    return "categorical"


def _features(table: CsvTable, cols: list[int], kinds: dict[int, str], rows: list[int], categorical: str):
    blocks, names = [], []
    for c in cols:
        name = table.header[c]
        raw = [table.rows[r][c] for r in rows]
        if kinds[c] == "numeric":
            blocks.append(np.array([np.nan if is_missing(v) else to_float(v) for v in raw], dtype=np.float32)[:, None])
            names.append(name)
            continue
        if categorical != "onehot":
            example = next(v for v in raw if not is_missing(v))
            raise UserError(f"column {name!r} is not numeric (e.g. {example!r}); set categorical columns to one-hot "
                            "or remove the column")
        present = [v for v in raw if not is_missing(v)]
        counts = Counter(present)
        if len(counts) > MAX_CATEGORIES:
            raise UserError(f"column {name!r} has {len(counts)} different text values (more than {MAX_CATEGORIES} "
                            "for one-hot encoding); remove it, or use it as the text column")
        mode = counts.most_common(1)[0][0]
        cats = sorted(counts)
        block = np.zeros((len(raw), len(cats)), dtype=np.float32)
        index = {v: k for k, v in enumerate(cats)}
        for i, v in enumerate(raw):
            block[i, index[mode if is_missing(v) else v]] = 1.0
        blocks.append(block)
        names.extend(f"{name}={v}" for v in cats)
    return np.concatenate(blocks, axis=1), names


def _target(table: CsvTable, col: int, rows: list[int], task: str):
    name = table.header[col]
    values = [table.rows[r][col] for r in rows]
    if not values:
        raise UserError(f"target column {name!r} has no values")
    nums = [to_float(v) for v in values]
    numeric = all(n is not None for n in nums)
    if task == "regression":
        if not numeric:
            r = rows[next(i for i, n in enumerate(nums) if n is None)]
            raise UserError(f"target column {name!r} must be numeric for regression, but line {table.lines[r]} has "
                            f"{table.rows[r][col]!r}")
        return "regression", np.array(nums, dtype=np.float32), []
    if numeric:
        whole = all(float(n).is_integer() for n in nums)
        uniq = sorted(set(nums))
        if task == "auto" and (not whole or len(uniq) > MAX_CLASSES):
            return "regression", np.array(nums, dtype=np.float32), []
        names = [f"{u:g}" for u in uniq]
        index = {u: k for k, u in enumerate(uniq)}
        return "classification", np.array([index[n] for n in nums], dtype=np.int64), names
    names = sorted(set(values))
    if len(names) > max(MAX_CLASSES, 2) * 20:
        raise UserError(f"target column {name!r} has {len(names)} different values; is it the right column?")
    index = {v: k for k, v in enumerate(names)}
    return "classification", np.array([index[v] for v in values], dtype=np.int64), names


def _guess_text_column(table: CsvTable, target: int) -> str | None:
    """With exactly one feature column holding free text (several words, mostly unique): text mode."""
    if len(table.header) != 2:
        return None
    col = 1 - target
    sample = [r[col] for r in table.rows[:500] if r[col].strip()]
    if not sample or all(to_float(v) is not None for v in sample):
        return None
    words = sum(len(v.split()) for v in sample) / len(sample)
    return table.header[col] if words >= 3 and len(set(sample)) > 0.5 * len(sample) else None


def is_csv(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in (".csv", ".tsv", ".txt")
