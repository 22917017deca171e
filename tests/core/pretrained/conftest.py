"""A tiny BERT-style model (2 layers, 64 hidden units) with its own WordPiece tokenizer, saved offline once per
session, and a CSV of real texts (the standard library's docstrings, labelled by package)."""

from __future__ import annotations

import pytest

from tests.core.pretrained_models import save_tiny_bert
from tests.realdata import stdlib_docstrings, write_docstrings_csv

FAMILIES = ("asyncio", "email")


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models") / "tiny-bert"
    return save_tiny_bert(folder, [text for text, _ in stdlib_docstrings(per_class=150)])


@pytest.fixture(scope="session")
def docs_csv(tmp_path_factory):
    return write_docstrings_csv(tmp_path_factory.mktemp("data") / "docs.csv", FAMILIES, per_class=70)
