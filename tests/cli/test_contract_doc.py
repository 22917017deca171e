"""docs/contract.md stays true: every command and option its CLI table lists exists in
`workbench ... --help`, and the repository's docs point at files inside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from workbench.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")


def _cli_rows() -> list[str]:
    """The first cell of each row of the CLI table: `workbench <group> [<command>] ...`."""
    return [m.group(1) for m in re.finditer(r"^\| `(workbench [^`]+)` \|", CONTRACT, re.M)]


def _help(words: list[str]) -> str:
    parser = build_parser()
    for word in words:  # walk down the subparsers: workbench -> export, or data -> inspect
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = sub.choices[word]
    return parser.format_help()


@pytest.mark.parametrize("row", [r for r in _cli_rows() if not r.startswith("workbench [")])
def test_every_documented_command_and_option_exists(row):
    words = row.split()[1:]
    command = [w for w in words[:2] if re.fullmatch(r"[a-z]+", w)]
    text = _help(command)
    for option in sorted(set(re.findall(r"--[a-z][a-z0-9-]*", row))):
        where = f"`workbench {' '.join(command)}`"
        assert option in text, f"docs/contract.md lists {option} for {where}; it is gone"


def test_the_contract_table_is_read():
    assert len(_cli_rows()) >= 8 and "--max-accuracy-drop" in CONTRACT


def test_docs_point_inside_the_repository():
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        assert "../shared" not in text and "CONTRACT.md" not in text and "DESIGN.md" not in text, doc.name
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            if not target.startswith(("http://", "https://", "mailto:")):
                assert (doc.parent / target).exists(), f"{doc.name} links {target}, which does not exist"
