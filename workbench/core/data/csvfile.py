"""Reading CSV text robustly: encoding and delimiter sniffing, ragged rows reported with their line number."""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

from workbench.core.errors import UserError

DELIMITERS = ",;\t|"
MISSING = {"", "na", "n/a", "nan", "null", "none", "?", "-", "missing"}


@dataclass
class CsvTable:
    header: list[str]
    rows: list[list[str]]
    lines: list[int]            # the file line number of each row (1-based, header is line 1)
    encoding: str
    delimiter: str

    def column(self, name: str) -> int:
        try:
            return self.header.index(name)
        except ValueError:
            cols = ", ".join(self.header[:12]) + (" ..." if len(self.header) > 12 else "")
            raise UserError(f"column {name!r} not found; the columns are: {cols}") from None


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder; choose a CSV file") from None
    except PermissionError:
        raise UserError(f"cannot read {path}: permission denied; check its permissions") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None


def decode_text(data: bytes, encoding: str = "auto") -> tuple[str, str]:
    """(text, encoding used). auto: a BOM, else UTF-8, else Windows-1252, else Latin-1 (never fails)."""
    if encoding not in ("auto", "", None):
        try:
            return data.decode(encoding), encoding
        except LookupError:
            raise UserError(f"unknown encoding {encoding!r}; use e.g. utf-8, cp1252, latin-1 or auto") from None
        except UnicodeDecodeError as exc:
            raise UserError(f"the file is not valid {encoding} (byte {exc.start}); choose another encoding or "
                            "auto") from None
    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                      (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(name), name
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
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def read_csv(path: str | Path, encoding: str = "auto", delimiter: str = "auto", header: bool = True,
             max_rows: int | None = None) -> CsvTable:
    path = Path(path).expanduser()
    data = read_bytes(path)
    if not data.strip():
        raise UserError(f"{path} is empty; a CSV needs a header row and at least one data row")
    if b"\x00" in data[:4096] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UserError(f"{path} looks like a binary file, not CSV text")
    text, used = decode_text(data, encoding)
    delim = sniff_delimiter(text) if delimiter in ("auto", "", None) else ("\t" if delimiter == "\\t" else delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    head: list[str] | None = None
    rows, lines = [], []
    try:
        for row in reader:
            if not row or all(not c.strip() for c in row):
                continue
            if head is None:
                if header:
                    head = [c.strip() or f"column{i + 1}" for i, c in enumerate(row)]
                    continue
                head = [f"column{i + 1}" for i in range(len(row))]
            if len(row) != len(head):
                raise UserError(f"{path} line {reader.line_num} has {len(row)} fields but the header has "
                                f"{len(head)} (delimiter {_show(delim)}); fix that line or choose the delimiter")
            rows.append([c.strip() for c in row])
            lines.append(reader.line_num)
            if max_rows is not None and len(rows) >= max_rows:
                break
    except csv.Error as exc:
        raise UserError(f"{path} line {reader.line_num}: {exc}") from None
    if head is None or not rows:
        raise UserError(f"{path} has a header but no data rows" if head else f"{path} has no rows")
    dupes = sorted({h for h in head if head.count(h) > 1})
    if dupes:
        raise UserError(f"{path} has duplicate column names: {', '.join(dupes)}; rename them")
    return CsvTable(header=head, rows=rows, lines=lines, encoding=used, delimiter=delim)


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
