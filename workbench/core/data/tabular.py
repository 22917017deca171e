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

from pathlib import Path

import numpy as np

from workbench.core.data.csvfile import CsvTable, is_missing, read_rows, to_float
from workbench.core.data.raw import TABULAR, TEXT, RawData
from workbench.core.errors import Cancelled, UserError

MAX_CATEGORIES = 100
MAX_CLASSES = 50
MAX_TARGET_VALUES = max(MAX_CLASSES, 2) * 20    # a text target with more different values is the wrong column
CODE_LIMIT = MAX_TARGET_VALUES + 1              # distinct strings remembered per column (enough for both checks)
CHUNK_ROWS = 50_000                             # rows converted to column arrays at a time
GUESS_ROWS = 500                                # rows looked at to tell a text column


class Column:
    """One CSV column held as arrays, filled chunk by chunk: the number in each cell (NaN when missing or text),
    whether it is missing, whether it is text, and for text cells a code per distinct string (up to
    CODE_LIMIT strings; past that only the count matters, as the column is refused for one-hot or as a target)."""

    def __init__(self):
        self.values: list[np.ndarray] = []
        self.missing: list[np.ndarray] = []
        self.text: list[np.ndarray] = []
        self.codes: list[np.ndarray | None] = []
        self.index: dict[str, int] = {}
        self.overflow = False

    def add(self, cells: list[str]) -> None:
        try:                            # fast path: numbers and empty cells, parsed by numpy
            values = np.array([c or "nan" for c in cells], dtype=np.float64)
        except ValueError:
            self._add_mixed(cells)
            return
        self.values.append(values)
        self.missing.append(np.isnan(values))
        self.text.append(np.zeros(len(cells), dtype=bool))
        self.codes.append(None)

    def _add_mixed(self, cells: list[str]) -> None:
        wide = max(map(len, cells)) * 4 * len(cells) > (64 << 20)
        uniq, inverse = np.unique(np.array(cells, dtype=object if wide else None), return_inverse=True)
        values = np.full(len(uniq), np.nan)
        missing = np.zeros(len(uniq), dtype=bool)
        text = np.zeros(len(uniq), dtype=bool)
        codes = np.full(len(uniq), -1, dtype=np.int32)
        for k, cell in enumerate(uniq.tolist()):
            if is_missing(cell):
                missing[k] = True
                continue
            number = to_float(cell)
            if number is not None:
                values[k] = number
            elif not self.overflow:
                text[k] = True
                codes[k] = self.index.setdefault(cell, len(self.index))
                if len(self.index) > CODE_LIMIT:
                    self.overflow, self.index = True, {}
            else:
                text[k] = True
        self.values.append(values[inverse])
        self.missing.append(missing[inverse])
        self.text.append(text[inverse])
        self.codes.append(None if self.overflow else codes[inverse])

    def finish(self) -> None:
        sizes = [len(v) for v in self.values]
        self.values = np.concatenate(self.values) if sizes else np.zeros(0)
        self.missing = np.concatenate(self.missing) if sizes else np.zeros(0, dtype=bool)
        self.text = np.concatenate(self.text) if sizes else np.zeros(0, dtype=bool)
        if self.overflow or not any(c is not None for c in self.codes):
            self.codes = None
        else:
            self.codes = np.concatenate([np.full(n, -1, dtype=np.int32) if c is None else c
                                         for c, n in zip(self.codes, sizes, strict=True)])

    def labels(self, rows: np.ndarray) -> tuple[list[str], np.ndarray] | None:
        """(sorted distinct cell texts, label index per row, -1 when missing) for a column holding text: text
        cells as written, number cells as the number (`1.0` and `1` are one label); None past CODE_LIMIT."""
        if self.overflow:
            return None
        strings = [""] * len(self.index)
        for cell, code in self.index.items():
            strings[code] = cell
        codes = self.codes[rows] if self.codes is not None else np.full(len(rows), -1, dtype=np.int32)
        numeric = ~self.missing[rows] & ~self.text[rows]
        numbers = np.unique(self.values[rows][numeric])
        if len(numbers) > CODE_LIMIT:
            return None
        used = np.unique(codes[codes >= 0])
        names = [strings[k] for k in used] + [f"{u:g}" for u in numbers]
        order = sorted(range(len(names)), key=names.__getitem__)
        rank = np.empty(len(names), dtype=np.int64)
        rank[order] = np.arange(len(names))
        out = np.full(len(rows), -1, dtype=np.int64)
        text_rows = codes >= 0
        out[text_rows] = rank[np.searchsorted(used, codes[text_rows])]
        out[numeric] = rank[len(used) + np.searchsorted(numbers, self.values[rows][numeric])]
        return [names[k] for k in order], out


class CsvData:
    """A CSV read into columns: header, line numbers, one Column each (a text column as its strings)."""

    def __init__(self, header: list[str], text_col: int | None):
        self.header = header
        self.text_col = text_col
        self.columns = [Column() for _ in header]
        self.texts: list[str] = []
        self.lines: list[np.ndarray] = []

    def add(self, rows: list[list[str]], lines: list[int]) -> None:
        line_arr = np.asarray(lines, dtype=np.int64)
        self.lines.append(line_arr)
        for c, cells in enumerate(zip(*rows, strict=True)):
            if c == self.text_col:
                self.texts.extend(cells)
            else:
                self.columns[c].add(list(cells))

    def finish(self) -> None:
        self.lines = np.concatenate(self.lines) if self.lines else np.zeros(0, dtype=np.int64)
        for c in self.columns:
            c.finish()

    def column(self, name: str) -> int:
        return CsvTable(self.header, [], [], "", "").column(name)


def _read_columns(path: Path, opts: dict, target: str | None, progress, cancel):
    """(CsvData, encoding, delimiter, target index, text column name): the file streamed once, CHUNK_ROWS rows
    converted to arrays at a time."""

    def consume(src, it):
        first: list[list[str]] = []
        lines: list[int] = []
        for line, cells in it:
            first.append(cells)
            lines.append(line)
            if len(first) >= GUESS_ROWS:
                break
        header = src.header
        if len(header) < 2:
            raise UserError(f"{path} has a single column ({header[0]!r}); a CSV needs feature columns and a "
                            "target column (check the delimiter)")
        table = CsvTable(header=header, rows=first, lines=lines, encoding=src.encoding, delimiter=src.delimiter)
        t_col = table.column(target or header[-1])
        text_name = opts.get("text_column") or _guess_text_column(table, t_col)
        data = CsvData(header, table.column(text_name) if text_name else None)
        rows, row_lines = first, lines
        for line, cells in it:
            if len(rows) >= CHUNK_ROWS:
                data.add(rows, row_lines)
                rows, row_lines = [], []
                if cancel is not None and cancel():
                    raise Cancelled("loading cancelled")
            rows.append(cells)
            row_lines.append(line)
        if rows:
            data.add(rows, row_lines)
        data.finish()
        return data, src.encoding, src.delimiter, t_col, text_name

    return read_rows(path, opts.get("encoding", "auto"), opts.get("delimiter", "auto"),
                     bool(opts.get("header", True)), consume, progress)


def load_csv(settings, progress=None, cancel=None) -> RawData:
    opts = settings.options
    path = Path(settings.source).expanduser()
    if progress:
        progress(0, 1, f"Reading {path.name}")
    data, encoding, delimiter, t_col, text_col = _read_columns(path, opts, settings.target, progress, cancel)
    target = data.header[t_col]
    tcol = data.columns[t_col]
    keep = np.flatnonzero(~tcol.missing)
    no_target = len(data.lines) - len(keep)
    policy = opts.get("missing", "drop")
    if policy not in ("drop", "impute"):
        raise UserError(f"missing-value policy {policy!r} is unknown; use drop or impute")
    info = {"file": str(path), "encoding": encoding, "delimiter": delimiter, "target": target,
            "header": data.header, "rows_in_file": len(data.lines)}
    if text_col:
        texts = data.texts
        keep = np.array([i for i in keep if texts[i].strip()], dtype=np.int64)
        empty = len(data.lines) - no_target - len(keep)
        task, y, names = _target(data, t_col, keep, opts.get("task", "auto"))
        info["missing"] = {"policy": "drop", "rows_without_target": no_target, "rows_dropped": no_target + empty,
                           "values_imputed": {}}
        info["text_column"] = text_col
        if progress:
            progress(1, 1, f"Read {len(keep):,} texts")
        return RawData(modality=TEXT, texts=[texts[i] for i in keep], y=y, class_names=names, task=task, extra=info)
    features = [i for i in range(len(data.header)) if i != t_col]
    kinds = {i: _column_kind(data, i, keep) for i in features}
    if policy == "drop":
        before = len(keep)
        holes = np.zeros(len(keep), dtype=bool)
        for i in features:
            holes |= data.columns[i].missing[keep]
        keep = keep[~holes]
        missing = {"policy": "drop", "rows_without_target": no_target, "rows_dropped": no_target + before - len(keep),
                   "values_imputed": {}}
    else:
        imputed = {data.header[i]: int(data.columns[i].missing[keep].sum()) for i in features}
        missing = {"policy": "impute", "rows_without_target": no_target, "rows_dropped": no_target,
                   "values_imputed": {k: v for k, v in imputed.items() if v}}
    if not len(keep):
        raise UserError(f"no rows of {path} are left after dropping rows with missing values; set the missing-value"
                        " policy to impute")
    x, names_out = _features(data, features, kinds, keep, opts.get("categorical", "onehot"))
    task, y, classes = _target(data, t_col, keep, opts.get("task", "auto"))
    info.update(missing=missing, features=names_out,
                categorical=[data.header[i] for i in features if kinds[i] == "categorical"])
    if progress:
        progress(1, 1, f"Read {len(keep):,} rows")
    return RawData(modality=TABULAR, x=x, y=y, class_names=classes, task=task, extra=info)


def _example(data: CsvData, col: int, rows: np.ndarray) -> tuple[int, str]:
    """(line, cell) of the first of `rows` in column `col`: the text as written, or the number."""
    column, r = data.columns[col], int(rows[0])
    if column.text[r] and column.codes is not None and column.codes[r] >= 0:
        text = next(cell for cell, code in column.index.items() if code == column.codes[r])
    elif column.text[r]:
        text = "(text)"
    else:
        text = f"{column.values[r]:g}"
    return int(data.lines[r]), text


def _column_kind(data: CsvData, col: int, rows: np.ndarray) -> str:
    """numeric | categorical. A mostly-numeric column with a stray word is a typo: an error naming the line.
    An infinite number in a numeric column is an error naming the line too (it would poison training)."""
    column = data.columns[col]
    present = rows[~column.missing[rows]]
    bad = present[column.text[present]]
    if not len(bad):
        inf = present[np.isinf(column.values[present])]
        if len(inf):
            line, _ = _example(data, col, inf)
            raise UserError(f"column {data.header[col]!r} line {line} has an infinite value; replace it with a "
                            "finite number or leave the cell empty (a missing value)")
        return "numeric"
    if len(bad) <= 0.1 * len(present):
        line, text = _example(data, col, bad)
        raise UserError(f"column {data.header[col]!r} is numeric but line {line} has {text!r}; fix the value or "
                        "leave the cell empty (a missing value)")
    return "categorical"


def _features(data: CsvData, cols: list[int], kinds: dict[int, str], rows: np.ndarray, categorical: str):
    blocks, names = [], []
    for c in cols:
        name, column = data.header[c], data.columns[c]
        if kinds[c] == "numeric":
            blocks.append(column.values[rows].astype(np.float32)[:, None])
            names.append(name)
            continue
        if categorical != "onehot":
            _, example = _example(data, c, rows[column.text[rows]])
            raise UserError(f"column {name!r} is not numeric (e.g. {example!r}); set categorical columns to one-hot "
                            "or remove the column")
        found = column.labels(rows)
        if found is None or len(found[0]) > MAX_CATEGORIES:
            many = f"more than {CODE_LIMIT:,}" if found is None else f"{len(found[0])}"
            raise UserError(f"column {name!r} has {many} different text values (more than {MAX_CATEGORIES} "
                            "for one-hot encoding); remove it, or use it as the text column")
        cats, index = found
        present = index[index >= 0]
        mode = int(np.argmax(np.bincount(present, minlength=len(cats))))
        block = np.zeros((len(rows), len(cats)), dtype=np.float32)
        block[np.arange(len(rows)), np.where(index >= 0, index, mode)] = 1.0
        blocks.append(block)
        names.extend(f"{name}={v}" for v in cats)
    return np.concatenate(blocks, axis=1), names


def _target(data: CsvData, col: int, rows: np.ndarray, task: str):
    name, column = data.header[col], data.columns[col]
    if not len(rows):
        raise UserError(f"target column {name!r} has no values")
    text = rows[column.text[rows]]
    nums = column.values[rows]
    infinite = rows[np.isinf(nums)]
    if len(infinite):
        line, cell = _example(data, col, infinite)
        raise UserError(f"target column {name!r} line {line} has the infinite value {cell!r}; a target must be a "
                        "class name or a finite number")
    if task == "regression":
        if len(text):
            line, cell = _example(data, col, text)
            raise UserError(f"target column {name!r} must be numeric for regression, but line {line} has {cell!r}")
        return "regression", nums.astype(np.float32), []
    if not len(text):
        whole = bool(np.all(np.mod(nums, 1) == 0))
        uniq = np.unique(nums)
        if task == "auto" and (not whole or len(uniq) > MAX_CLASSES):
            return "regression", nums.astype(np.float32), []
        if len(uniq) > MAX_TARGET_VALUES:
            raise UserError(f"target column {name!r} has {len(uniq)} different values; is it the right column?")
        names = [f"{u:g}" for u in uniq]
        return "classification", np.searchsorted(uniq, nums).astype(np.int64), names
    found = column.labels(rows)
    if found is None or len(found[0]) > MAX_TARGET_VALUES:
        many = f"more than {CODE_LIMIT:,}" if found is None else f"{len(found[0])}"
        raise UserError(f"target column {name!r} has {many} different values; is it the right column?")
    names, index = found
    return "classification", index, names


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
