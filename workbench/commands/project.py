"""`workbench project ...` (CONTRACT section 3)."""

from __future__ import annotations


def add_parser(sub) -> None:
    sub.add_parser("project", help="(project commands: see CONTRACT section 3)")
