"""Real data for the journey tests, made from sources none of us wrote: scikit-learn's digits (as a PNG image
folder), its breast-cancer and wine tables (as CSV), and a text corpus: the docstrings of Python's own standard
library, labelled by the package they document (docs/data.md says why). For language models: the GNU GPL v3
text (`GPL3`), 35 KB of English prose in every Debian / Ubuntu system (package base-files, which is Essential,
so also in the slim python images)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

GPL3 = Path("/usr/share/common-licenses/GPL-3")
DOC_FAMILIES = ("asyncio", "email", "tkinter", "xml", "logging", "unittest", "multiprocessing", "http")
MIN_WORDS = 4


def stdlib_docstrings(families=DOC_FAMILIES, per_class: int | None = None) -> list[tuple[str, str]]:
    """(text, package) pairs: the first paragraph of every module, class and function docstring (4 words or
    more, each text once) in these packages of the running Python's standard library, read with `ast` (nothing
    is imported), their own test folders left out."""
    import ast
    import sysconfig

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    rows, seen = [], set()
    for family in families:
        count = 0
        for path in sorted((stdlib / family).rglob("*.py")):
            if any(part.startswith("test") for part in path.relative_to(stdlib).parts[1:]):
                continue
            try:
                tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                doc = ast.get_docstring(node)
                text = " ".join(doc.split("\n\n")[0].split()) if doc else ""
                if (
                    len(text.split()) >= MIN_WORDS
                    and text not in seen
                    and (per_class is None or count < per_class)
                ):
                    seen.add(text)
                    rows.append((text, family))
                    count += 1
    return rows


def write_docstrings_csv(path: Path, families=DOC_FAMILIES, per_class: int | None = None) -> Path:
    """columns text, module; rows shuffled with a fixed seed."""
    rows = stdlib_docstrings(families, per_class)
    order = np.random.default_rng(0).permutation(len(rows))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "module"])
        writer.writerows(rows[i] for i in order)
    return path


def write_sklearn_csv(path: Path, name: str) -> Path:
    """scikit-learn's `breast_cancer` or `wine` table with its feature names and a `target` column of class
    names (both ship inside scikit-learn: nothing is downloaded)."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([*(n.replace(" ", "_") for n in bunch.feature_names), "target"])
        for x, y in zip(bunch.data, bunch.target, strict=True):
            writer.writerow([*(f"{v:.6g}" for v in x), bunch.target_names[y]])
    return path


def write_digits_folder(root: Path, per_class: int = 30, classes=tuple(range(10))) -> Path:
    """scikit-learn's 8x8 digits as PNG files, root/digit<c>/<k>.png."""
    from workbench.core.data.synthetic import digits_uint8, write_image_folder

    images, labels = digits_uint8()
    return write_image_folder(root, images, labels, classes=classes, per_class=per_class)
