"""Train / val / test splits: stratified by class, reproducible (the same seed gives the same split).

Samples a source already assigns (an official test set, a separate validation folder) keep their split; the
others are shared among the remaining splits in proportion to the requested fractions.
"""

from __future__ import annotations

import numpy as np

from workbench.core.data.raw import SPLIT_NAMES, UNASSIGNED
from workbench.core.errors import UserError


def _allocate(n: int, fractions: np.ndarray) -> np.ndarray:
    """Counts per split for n samples: largest-remainder rounding, train (index 0) never left empty."""
    exact = fractions * n
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    if n > 0 and counts[0] == 0:
        donor = int(np.argmax(counts))
        counts[donor] -= 1
        counts[0] += 1
    return counts


def _spread(n: int, fractions: np.ndarray) -> np.ndarray:
    """n split labels with exact overall counts, each split spread evenly along the sequence. Applied to the
    samples sorted by class, every class gets its share (+-1) and the totals match the percentages."""
    counts = _allocate(n, fractions)
    keys = np.concatenate([(np.arange(c) + 0.5) / c for c in counts if c]) if n else np.zeros(0)
    labels = np.concatenate([np.full(c, k) for k, c in enumerate(counts) if c]) if n else np.zeros(0, int)
    return labels[np.argsort(keys, kind="stable")]


def split_indices(
    y: np.ndarray,
    fractions: tuple[float, float, float],
    seed: int,
    stratify: bool = True,
    preset: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Sorted source positions per split name. Stratified: every class is split in the same proportions."""
    n = len(y)
    fr = np.asarray(fractions, dtype=float)
    marks = np.full(n, UNASSIGNED, dtype=np.int8) if preset is None else np.asarray(preset, dtype=np.int8)
    taken = {k for k in range(3) if np.any(marks == k)}
    free = [k for k in range(3) if k not in taken]
    out: dict[int, list[np.ndarray]] = {k: [np.flatnonzero(marks == k)] for k in range(3)}
    todo = np.flatnonzero(marks == UNASSIGNED)
    if len(todo) and free:
        sub = np.zeros(3)
        sub[free] = fr[free]
        if sub.sum() <= 0:  # e.g. the val folder is given and train is the only free split
            sub[free[0]] = 1.0
        sub /= sub.sum()
        rng = np.random.default_rng(seed)
        groups = [todo[y[todo] == c] for c in np.unique(y[todo])] if stratify else [todo]
        order = free
        members = np.concatenate([g[rng.permutation(len(g))] for g in groups])
        labels = _spread(len(members), sub[order])
        for pos, k in enumerate(order):
            out[k].append(members[labels == pos])
    elif len(todo):
        out[0].append(todo)
    result = {SPLIT_NAMES[k]: np.sort(np.concatenate(out[k])).astype(np.int64) for k in range(3)}
    if len(result["train"]) == 0:
        raise UserError("the train split is empty; raise the train percentage or add data")
    return result


def check_classes(y: np.ndarray, class_names: list[str]) -> None:
    """A classifier needs two classes or more, and every label must name one of them."""
    if len(y) == 0:
        raise UserError("the data set has no samples")
    k = len(class_names)
    if k < 2:
        name = f" ({class_names[0]!r})" if class_names else ""
        raise UserError(f"only one class found{name}; a classifier needs at least two classes")
    bad = (y < 0) | (y >= k)
    if np.any(bad):
        first = int(np.flatnonzero(bad)[0])
        raise UserError(
            f"label {int(y[first])} of sample {first} is outside the range 0..{k - 1} "
            f"of the {k} classes; fix the labels or the class list"
        )
