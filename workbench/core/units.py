"""How Workbench writes sizes, counts and shapes, everywhere (GUI, CLI, reports, error messages).

Bytes use binary units (KiB = 1024 B, MiB, GiB, TiB) with one decimal; counts use K / M / G (powers of 1000:
parameters and MACs are counts, not sizes); shapes are dimensions joined by "×" (GUI) or "x" (plain-text
messages and the CLI).
"""

from __future__ import annotations

from collections.abc import Iterable

KiB = 1024
MiB = 1024**2
GiB = 1024**3
_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def huge_text(n: int) -> str:
    """A whole number too large for a float (or for str(): Python refuses over 4300 digits): '~10^400'."""
    return f"~10^{int(abs(n).bit_length() * 0.30103)}"


def _too_big(n: float) -> bool:
    return isinstance(n, int) and abs(n).bit_length() > 1000


def bytes_text(n: float | None, digits: int = 1) -> str:
    """1536 -> '1.5 KiB', 3 * GiB -> '3.0 GiB', 100 -> '100 B'; None -> '–'."""
    if n is None:
        return "–"
    if _too_big(n):
        return f"{huge_text(int(n))} B"
    value = float(n)
    for unit in _BYTE_UNITS[:-1]:
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.{digits}f} {unit}"
        value /= 1024
    return f"{value:.{digits}f} TiB"


def count_text(n: float) -> str:
    """1234 -> '1.2K', 11_173_962 -> '11.2M', 999 -> '999'."""
    if _too_big(n):
        return huge_text(int(n))
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def shape_text(shape: Iterable[int] | None, sep: str = "×") -> str:
    """(1, 28, 28) -> '1×28×28' (sep="x" for plain-text messages); () -> 'scalar'; None -> '—'."""
    if shape is None:
        return "—"
    return sep.join(map(str, shape)) or "scalar"
