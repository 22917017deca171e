"""`workbench export ...` (CONTRACT section 3)."""

from __future__ import annotations


def add_parser(sub) -> None:
    sub.add_parser("export", help="(export commands: see CONTRACT section 3)")
