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

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from workbench.core.data.csvfile import CsvRows, CsvTable, is_missing, read_rows, to_float
from workbench.core.data.raw import TABULAR, TEXT, RawData
from workbench.core.errors import Cancelled, UserError

MAX_CATEGORIES = 100
MAX_CLASSES = 50
MAX_TARGET_VALUES = max(MAX_CLASSES, 2) * 20  # a text target with more different values is the wrong column
CODE_LIMIT = MAX_TARGET_VALUES + 1  # distinct strings remembered per column (enough for both checks)
CHUNK_ROWS = 8_192  # rows converted to column arrays at a time
GUESS_ROWS = 500  # rows looked at to tell a text column


class Growing:
    """An array appended to in chunks, grown by doubling: one block in memory (no list of small chunks left to
    fragment the heap), trimmed by `array()`."""

    def __init__(self, dtype, capacity: int = 0):
        self.data = np.empty(capacity, dtype=dtype)
        self.size = 0

    def append(self, part: np.ndarray) -> None:
        end = self.size + len(part)
        if end > len(self.data):
            grown = np.empty(max(end, int(1.25 * len(self.data)), 1024), dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : end] = part
        self.size = end

    def array(self) -> np.ndarray:
        self.data.resize(self.size, refcheck=False)  # shrinks in place (realloc), no second copy
        return self.data


class Column:
    """One CSV column held as arrays, filled chunk by chunk: the number in each cell as float32 (NaN when the
    cell is missing or text), whether it is text, and for text cells a code per distinct string (up to
    CODE_LIMIT strings; past that only the count matters, as the column is refused for one-hot or as a target).
    About 5 bytes per cell (9 for a column holding text)."""

    def __init__(self, rows_hint: int = 0):
        # filled by `add`, then trimmed by `finish` into `values`, `text` and `codes`
        self._values = Growing(np.float32, rows_hint)
        self._text: Growing | None = None  # made when the first text cell comes, like the codes
        self._codes: Growing | None = None
        self.values: np.ndarray = np.empty(0, dtype=np.float32)
        self.text: np.ndarray = np.empty(0, dtype=bool)
        self.codes: np.ndarray | None = None
        self.index: dict[str, int] = {}
        self.overflow = False

    def add(self, cells: list[str]) -> None:
        """`cells` as read (not stripped): numbers and empty cells take numpy's parser, the rest `_add_mixed`."""
        try:
            values = np.array([c or "nan" for c in cells], dtype=np.float64)
        except ValueError:
            self._add_mixed([c.strip() for c in cells])
            return
        self._values.append(values)
        if self._text is not None:
            self._text.append(np.zeros(len(cells), dtype=bool))
        if self._codes is not None:
            self._codes.append(np.full(len(cells), -1, dtype=np.int32))

    def _add_mixed(self, cells: list[str]) -> None:
        wide = max(map(len, cells)) * 4 * len(cells) > (64 << 20)
        uniq, inverse = np.unique(np.array(cells, dtype=object if wide else None), return_inverse=True)
        values = np.full(len(uniq), np.nan)
        text = np.zeros(len(uniq), dtype=bool)
        codes = np.full(len(uniq), -1, dtype=np.int32)
        for k, cell in enumerate(uniq.tolist()):
            if is_missing(cell):
                continue
            number = to_float(cell)
            if number is not None:
                values[k] = np.nan if number != number else number
                continue
            text[k] = True
            if not self.overflow:
                codes[k] = self.index.setdefault(cell, len(self.index))
                if len(self.index) > CODE_LIMIT:
                    self.overflow, self.index = True, {}
        if self._text is None and text.any():
            self._text = Growing(bool)
            self._text.append(np.zeros(self._values.size, dtype=bool))
        if self._codes is None and not self.overflow and text.any():
            self._codes = Growing(np.int32)
            self._codes.append(np.full(self._values.size, -1, dtype=np.int32))
        self._values.append(values[inverse])
        if self._text is not None:
            self._text.append(text[inverse])
        if self.overflow:
            self._codes = None
        elif self._codes is not None:
            self._codes.append(codes[inverse])

    def finish(self) -> None:
        self.values = self._values.array()
        self.text = np.zeros(len(self.values), dtype=bool) if self._text is None else self._text.array()
        self.codes = None if self.overflow or self._codes is None else self._codes.array()

    def release(self) -> None:
        """Drops the column's arrays (bounded peak memory once they have been copied elsewhere)."""
        self._values, self._text, self._codes = Growing(np.float32), None, None
        self.values, self.text, self.codes = np.empty(0, dtype=np.float32), np.empty(0, dtype=bool), None
        self.index = {}

    @property
    def missing(self) -> np.ndarray:
        return np.isnan(self.values) & ~self.text

    def labels(self, rows: np.ndarray) -> tuple[list[str], np.ndarray] | None:
        """(sorted distinct cell texts, label index per row, -1 when missing) for a column holding text: text
        cells as written, number cells as the number (`1.0` and `1` are one label); None past CODE_LIMIT."""
        if self.overflow:
            return None
        strings = [""] * len(self.index)
        for cell, code in self.index.items():
            strings[code] = cell
        codes = self.codes[rows] if self.codes is not None else np.full(len(rows), -1, dtype=np.int32)
        values = self.values[rows]
        numeric = ~np.isnan(values)
        numbers = np.unique(values[numeric])
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
        out[numeric] = rank[len(used) + np.searchsorted(numbers, values[numeric])]
        return [names[k] for k in order], out


class CsvData:
    """A CSV read into columns: header, line numbers, one Column each (a text column as its strings)."""

    def __init__(self, header: list[str], text_col: int | None, rows_hint: int = 0):
        self.header = header
        self.text_col = text_col
        self.columns = [Column(rows_hint if c != text_col else 0) for c in range(len(header))]
        self.texts: list[str] = []
        self._lines = Growing(np.uint32, rows_hint)  # filled by `add`, trimmed into `lines` by `finish`
        self.lines: np.ndarray = np.empty(0, dtype=np.uint32)

    def add(self, rows: list[list[str]], lines: list[int]) -> None:
        self._lines.append(np.asarray(lines, dtype=np.uint32))
        for c, cells in enumerate(zip(*rows, strict=True)):
            if c == self.text_col:
                self.texts.extend(cell.strip() for cell in cells)
            else:
                self.columns[c].add(list(cells))

    def finish(self) -> None:
        self.lines = self._lines.array()
        for c in self.columns:
            c.finish()

    def column(self, name: str) -> int:
        return CsvTable(self.header, [], [], "", "").column(name)


def _read_columns(path: Path, opts: dict, target: str | None, progress, cancel):
    """(CsvData, encoding, delimiter, target index, text column name): the file streamed once, CHUNK_ROWS rows
    converted to arrays at a time."""

    def consume(
        src: CsvRows, it: Iterator[tuple[int, list[str]]]
    ) -> tuple[CsvData, str, str, int, str | None]:
        first: list[list[str]] = []
        lines: list[int] = []
        for line, cells in it:
            first.append(cells)
            lines.append(line)
            if len(first) >= GUESS_ROWS:
                break
        header = src.header
        if len(header) < 2:
            raise UserError(
                f"{path} has a single column ({header[0]!r}); a CSV needs feature columns and a "
                "target column (check the delimiter)"
            )
        table = CsvTable(
            header=header, rows=first, lines=lines, encoding=src.encoding, delimiter=src.delimiter
        )
        t_col = table.column(target or header[-1])
        text_name = opts.get("text_column") or _guess_text_column(table, t_col)
        row_bytes = sum(len(src.delimiter.join(r)) + 1 for r in first) / max(len(first), 1)
        rows_hint = int(1.05 * src.size / max(row_bytes, 1)) if len(first) >= GUESS_ROWS else 0
        data = CsvData(header, table.column(text_name) if text_name else None, min(rows_hint, 1 << 31))
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

    return read_rows(
        path,
        opts.get("encoding", "auto"),
        opts.get("delimiter", "auto"),
        bool(opts.get("header", True)),
        consume,
        progress,
        strip=False,
    )


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
    info = {
        "file": str(path),
        "encoding": encoding,
        "delimiter": delimiter,
        "target": target,
        "header": data.header,
        "rows_in_file": len(data.lines),
    }
    if text_col:
        texts = data.texts
        keep = np.array([i for i in keep if texts[i].strip()], dtype=np.int64)
        empty = len(data.lines) - no_target - len(keep)
        task, y, names = _target(data, t_col, keep, opts.get("task", "auto"))
        info["missing"] = {
            "policy": "drop",
            "rows_without_target": no_target,
            "rows_dropped": no_target + empty,
            "values_imputed": {},
        }
        info["text_column"] = text_col
        if progress:
            progress(1, 1, f"Read {len(keep):,} texts")
        return RawData(
            modality=TEXT, texts=[texts[i] for i in keep], y=y, class_names=names, task=task, extra=info
        )
    features = [i for i in range(len(data.header)) if i != t_col]
    kinds = {i: _column_kind(data, i, keep) for i in features}
    if policy == "drop":
        before = len(keep)
        holes = np.zeros(len(keep), dtype=bool)
        for i in features:
            holes |= data.columns[i].missing[keep]
        keep = keep[~holes]
        missing = {
            "policy": "drop",
            "rows_without_target": no_target,
            "rows_dropped": no_target + before - len(keep),
            "values_imputed": {},
        }
    else:
        imputed = {data.header[i]: int(data.columns[i].missing[keep].sum()) for i in features}
        missing = {
            "policy": "impute",
            "rows_without_target": no_target,
            "rows_dropped": no_target,
            "values_imputed": {k: v for k, v in imputed.items() if v},
        }
    if not len(keep):
        raise UserError(
            f"no rows of {path} are left after dropping rows with missing values; set the missing-value"
            " policy to impute"
        )
    x, names_out = _features(data, features, kinds, keep, opts.get("categorical", "onehot"))
    task, y, classes = _target(data, t_col, keep, opts.get("task", "auto"))
    info.update(
        missing=missing,
        features=names_out,
        categorical=[data.header[i] for i in features if kinds[i] == "categorical"],
    )
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
            raise UserError(
                f"column {data.header[col]!r} line {line} has an infinite value; replace it with a "
                "finite number or leave the cell empty (a missing value)"
            )
        return "numeric"
    if len(bad) <= 0.1 * len(present):
        line, text = _example(data, col, bad)
        raise UserError(
            f"column {data.header[col]!r} is numeric but line {line} has {text!r}; fix the value or "
            "leave the cell empty (a missing value)"
        )
    return "categorical"


def _features(data: CsvData, cols: list[int], kinds: dict[int, str], rows: np.ndarray, categorical: str):
    """(x float32 (rows, features), feature names): numeric columns as they are, text columns one-hot. x is
    allocated once and each column's arrays are released as soon as it is copied in (bounded peak memory)."""
    plans: list[tuple[int, np.ndarray | None, int]] = []
    names: list[str] = []
    for c in cols:
        name, column = data.header[c], data.columns[c]
        if kinds[c] == "numeric":
            plans.append((c, None, 1))
            names.append(name)
            continue
        if categorical != "onehot":
            _, example = _example(data, c, rows[column.text[rows]])
            raise UserError(
                f"column {name!r} is not numeric (e.g. {example!r}); set categorical columns to one-hot "
                "or remove the column"
            )
        found = column.labels(rows)
        if found is None or len(found[0]) > MAX_CATEGORIES:
            many = f"more than {CODE_LIMIT:,}" if found is None else f"{len(found[0])}"
            raise UserError(
                f"column {name!r} has {many} different text values (more than {MAX_CATEGORIES} "
                "for one-hot encoding); remove it, or use it as the text column"
            )
        cats, index = found
        mode = int(np.argmax(np.bincount(index[index >= 0], minlength=len(cats))))
        plans.append((c, np.where(index >= 0, index, mode).astype(np.int16), len(cats)))
        names.extend(f"{name}={v}" for v in cats)
    x = np.zeros((len(rows), len(names)), dtype=np.float32)
    at = 0
    for c, onehot, width in plans:
        if onehot is None:
            x[:, at] = data.columns[c].values[rows]
        else:
            x[np.arange(len(rows)), at + onehot] = 1.0
        at += width
        data.columns[c].release()  # its arrays are no longer needed
    return x, names


def _target(data: CsvData, col: int, rows: np.ndarray, task: str):
    name, column = data.header[col], data.columns[col]
    if not len(rows):
        raise UserError(f"target column {name!r} has no values")
    text = rows[column.text[rows]]
    nums = column.values[rows]
    infinite = rows[np.isinf(nums)]
    if len(infinite):
        line, cell = _example(data, col, infinite)
        raise UserError(
            f"target column {name!r} line {line} has the infinite value {cell!r}; a target must be a "
            "class name or a finite number"
        )
    if task == "regression":
        if len(text):
            line, cell = _example(data, col, text)
            raise UserError(
                f"target column {name!r} must be numeric for regression, but line {line} has {cell!r}"
            )
        return "regression", nums.astype(np.float32), []
    if not len(text):
        whole = bool(np.all(np.mod(nums, 1) == 0))
        uniq = np.unique(nums)
        if task == "auto" and (not whole or len(uniq) > MAX_CLASSES):
            return "regression", nums.astype(np.float32), []
        if len(uniq) > MAX_TARGET_VALUES:
            raise UserError(
                f"target column {name!r} has {len(uniq)} different values; is it the right column?"
            )
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
