"""workbench.core.units: one way to write bytes (binary units), counts and shapes."""

from __future__ import annotations

import pytest

from workbench.core.units import GiB, KiB, MiB, bytes_text, count_text, shape_text


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, "–"),
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (449.2 * KiB, "449.2 KiB"),
        (5 * MiB, "5.0 MiB"),
        (3 * GiB, "3.0 GiB"),
        (2 * 1024 * GiB, "2.0 TiB"),
        (-1536, "-1.5 KiB"),
    ],
)
def test_bytes_use_binary_units(n, text):
    assert bytes_text(n) == text


def test_bytes_digits_and_the_si_trap():
    assert bytes_text(512 * MiB, 0) == "512 MiB"
    assert bytes_text(10**9) == "953.7 MiB"  # a "GB" of 10**9 bytes is not a GiB


def test_counts_and_shapes():
    assert [count_text(n) for n in (999, 1234, 11_173_962, 2_500_000_000)] == ["999", "1.2K", "11.2M", "2.5G"]
    assert shape_text((1, 28, 28)) == "1×28×28" and shape_text([32, 4, 4], "x") == "32x4x4"
    assert shape_text(()) == "scalar" and shape_text(None) == "—"
