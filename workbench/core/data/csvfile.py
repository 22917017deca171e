"""Reading CSV text robustly: encoding and delimiter sniffing, ragged rows reported with their line number."""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

from workbench.core.errors import UserError
from workbench.core.io import check_regular_file, open_regular_file

DELIMITERS = ",;\t|"
MISSING = {"", "na", "n/a", "nan", "null", "none", "?", "-", "missing"}


@dataclass
class CsvTable:
    header: list[str]
    rows: list[list[str]]
    lines: list[int]  # the file line number of each row (1-based, header is line 1)
    encoding: str
    delimiter: str

    def column(self, name: str) -> int:
        try:
            return self.header.index(name)
        except ValueError:
            cols = ", ".join(self.header[:12]) + (" ..." if len(self.header) > 12 else "")
            raise UserError(f"column {name!r} not found; the columns are: {cols}") from None


SAMPLE_BYTES = 1 << 16  # read to sniff the encoding and the delimiter
MAX_FIELD = 1 << 24  # characters in one cell (csv's default of 128 KiB is too small for long texts)
MAX_COLUMNS = 100_000


def decode_text(data: bytes, encoding: str = "auto") -> tuple[str, str]:
    """(text, encoding used). auto: a BOM, else UTF-8, else Windows-1252, else Latin-1 (never fails)."""
    if encoding not in ("auto", "", None):
        try:
            return data.decode(encoding), encoding
        except LookupError:
            raise UserError(
                f"unknown encoding {encoding!r}; use e.g. utf-8, cp1252, latin-1 or auto"
            ) from None
        except UnicodeDecodeError as exc:
            raise UserError(
                f"the file is not valid {encoding} (byte {exc.start}); choose another encoding or auto"
            ) from None
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(name, errors="replace"), name
    for name in ("utf-8", "cp1252", "latin-1"):
        try:
            return data.decode(name), name
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte string")


def sniff_delimiter(text: str) -> str:
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        counts = {d: first.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.__getitem__)
        return best if counts[best] else ","


class _WrongEncoding(Exception):
    """The guessed encoding failed further into the file: read again with the next candidate."""


class CsvRows:
    """A CSV file read as a stream: `header`, `encoding`, `delimiter`, then `rows()` yields (line, cells) with
    the cells stripped. Only a sample is held at once, so a file of any size reads in bounded memory.

    With encoding auto the candidates are tried in order (a BOM, UTF-8, Windows-1252, Latin-1); a byte that does
    not decode far into the file raises `_WrongEncoding`, and `read_rows` starts again with the next one."""

    def __init__(
        self,
        path: str | Path,
        encoding: str = "auto",
        delimiter: str = "auto",
        header: bool = True,
        candidate: int = 0,
    ):
        self.path = Path(path).expanduser()
        self.size = check_regular_file(self.path, "CSV file").st_size
        with open_regular_file(self.path, "CSV file") as fh:
            sample = fh.read(SAMPLE_BYTES)
        if not sample.strip():
            raise UserError(f"{self.path} is empty; a CSV needs a header row and at least one data row")
        if b"\x00" in sample[:4096] and not sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise UserError(f"{self.path} looks like a binary file, not CSV text")
        auto = encoding in ("auto", "", None)
        if auto:
            _, first = decode_text(
                sample[: _complete_utf8(sample)] if len(sample) == SAMPLE_BYTES else sample
            )
            order = [first] + [c for c in ("utf-8", "cp1252", "latin-1") if c != first and first != "latin-1"]
            order = order if first not in ("utf-8-sig", "utf-16") else [first]
            if candidate >= len(order):
                candidate = len(order) - 1
            self.encoding = order[candidate]
            self.more_candidates = candidate + 1 < len(order)
        else:
            decode_text(b"", encoding)  # an unknown encoding is named now
            self.encoding, self.more_candidates = encoding, False
        text = sample.decode(self.encoding, errors="ignore")
        if delimiter in ("auto", "", None):
            self.delimiter = sniff_delimiter(text)
        else:
            self.delimiter = "\t" if delimiter == "\\t" else delimiter
        if len(self.delimiter) != 1:
            raise UserError(f"delimiter {delimiter!r} must be one character, e.g. , ; | or \\t")
        self.has_header = header
        self.header: list[str] = []

    def rows(self, progress=None, every: int = 50_000, strip: bool = True):
        """Yield (line number, cells) for every data row, the cells stripped of spaces unless `strip` is False
        (the caller strips what it keeps); sets `header` before the first one."""
        csv.field_size_limit(MAX_FIELD)
        with open_regular_file(self.path, "CSV file") as raw:
            text = io.TextIOWrapper(raw, encoding=self.encoding, newline="", errors="strict")
            reader = csv.reader(text, delimiter=self.delimiter)
            head = None
            count = 0
            try:
                for row in reader:
                    if not row:
                        continue  # a blank line
                    if (not row[0] or row[0].isspace()) and not "".join(row).strip():
                        if head is None and self.has_header and len(row) > 1:
                            raise UserError(
                                f"{self.path} line {reader.line_num}: the header row is empty; give "
                                "every column a name in the first row"
                            )
                        continue
                    if head is None:
                        if len(row) > MAX_COLUMNS:
                            raise UserError(
                                f"{self.path} has {len(row):,} columns, more than the limit of "
                                f"{MAX_COLUMNS:,}"
                            )
                        if self.has_header:
                            head = [c.strip() or f"column{i + 1}" for i, c in enumerate(row)]
                            dupes = sorted({h for h in head if head.count(h) > 1})
                            if dupes:
                                raise UserError(
                                    f"{self.path} has duplicate column names: {', '.join(dupes)}; rename them"
                                )
                            self.header = head
                            continue
                        head = [f"column{i + 1}" for i in range(len(row))]
                        self.header = head
                    if len(row) != len(head):
                        raise UserError(
                            f"{self.path} line {reader.line_num} has {len(row)} fields but the header "
                            f"has {len(head)} (delimiter {_show(self.delimiter)}); fix that line or "
                            "choose the delimiter"
                        )
                    count += 1
                    if progress is not None and count % every == 0:
                        progress(raw.tell(), self.size, f"Reading {self.path.name}: {count:,} rows")
                    yield reader.line_num, [c.strip() for c in row] if strip else row
            except UnicodeDecodeError as exc:
                if self.more_candidates:
                    raise _WrongEncoding from None
                raise UserError(
                    f"{self.path} is not valid {self.encoding} near line {reader.line_num} "
                    f"({exc.reason}); choose another encoding"
                ) from None
            except csv.Error as exc:
                raise UserError(f"{self.path} line {reader.line_num}: {exc}") from None
            if head is None:
                raise UserError(f"{self.path} has no rows")
            if not count:
                raise UserError(f"{self.path} has a header but no data rows")


def _complete_utf8(data: bytes) -> int:
    """Length of `data` without a UTF-8 sequence cut at its end (so a sample never fails on its last byte)."""
    for back in range(1, 4):
        if len(data) >= back and (data[-back] & 0xC0) == 0xC0:
            return len(data) - back
        if len(data) >= back and (data[-back] & 0x80) == 0:
            return len(data)
    return len(data)


def read_rows(path, encoding, delimiter, header, consume, progress=None, strip: bool = True):
    """`consume(csv_rows, iterator)` over the file's rows, started again with the next encoding candidate when
    the guessed one fails further into the file. Returns what `consume` returns."""
    candidate = 0
    while True:
        rows = CsvRows(path, encoding, delimiter, header, candidate)
        try:
            return consume(rows, rows.rows(progress, strip=strip))
        except _WrongEncoding:
            candidate += 1


def read_csv(
    path: str | Path,
    encoding: str = "auto",
    delimiter: str = "auto",
    header: bool = True,
    max_rows: int | None = None,
) -> CsvTable:
    """The rows as strings (for previews, the header, small files). Large files: see `read_rows`."""

    def collect(src: CsvRows, it) -> CsvTable:
        rows, lines = [], []
        for line, cells in it:
            rows.append(cells)
            lines.append(line)
            if max_rows is not None and len(rows) >= max_rows:
                break
        return CsvTable(
            header=src.header, rows=rows, lines=lines, encoding=src.encoding, delimiter=src.delimiter
        )

    return read_rows(path, encoding, delimiter, header, collect)


def _show(delim: str) -> str:
    return {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(delim, repr(delim))


def is_missing(value: str) -> bool:
    return value.strip().lower() in MISSING


def to_float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        try:
            return float(value.replace(",", ".")) if value.count(",") == 1 and "." not in value else None
        except ValueError:
            return None
