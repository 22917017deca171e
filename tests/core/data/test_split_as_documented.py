"""docs/data.md "Splits" describes the split exactly: rebuilt here from that text alone, it matches
`split_indices` sample for sample (classification with uneven classes, regression, a preset test split)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.core.data.splits import split_indices


def _documented_split(y, fractions, seed, stratify, preset=None):
    n_all = len(y)
    marks = np.full(n_all, -1) if preset is None else np.asarray(preset)
    out = {k: list(np.flatnonzero(marks == k)) for k in range(3)}
    free = [k for k in range(3) if not np.any(marks == k)]  # 1. splits that received no preset sample
    todo = np.flatnonzero(marks == -1)
    f = [fractions[k] for k in free]
    f = [v / sum(f) for v in f] if sum(f) > 0 else [1.0] + [0.0] * (len(free) - 1)
    rng = np.random.default_rng(seed)  # 2. one generator, class after class
    groups = [todo[y[todo] == c] for c in sorted(set(y[todo].tolist()))] if stratify else [todo]
    sequence = [int(i) for g in groups for i in g[rng.permutation(len(g))]]
    n = len(sequence)
    sizes = [math.floor(v * n) for v in f]  # 3. largest remainder over the whole set
    by_remainder = sorted(range(len(f)), key=lambda k: -(f[k] * n - sizes[k]))  # sorted() is stable
    for k in by_remainder[: n - sum(sizes)]:
        sizes[k] += 1
    if n and sizes[0] == 0:
        sizes[sizes.index(max(sizes))] -= 1
        sizes[0] += 1
    keys = [((j + 0.5) / c, k) for k, c in enumerate(sizes) for j in range(c)]  # 4. interleaved evenly
    order = sorted(range(len(keys)), key=lambda i: keys[i][0])
    for position, i in enumerate(order):
        out[free[keys[i][1]]].append(sequence[position])
    return {name: sorted(out[k]) for k, name in enumerate(("train", "val", "test"))}


@pytest.mark.parametrize("seed", [0, 7])
def test_the_split_is_the_one_docs_data_md_describes(seed):
    rng = np.random.default_rng(100 + seed)
    y = rng.choice(5, size=503, p=[0.5, 0.2, 0.15, 0.1, 0.05])
    cases = [
        (y, (0.7, 0.15, 0.15), True, None),
        (y, (0.6, 0.25, 0.15), True, None),
        (rng.random(211), (0.8, 0.1, 0.1), False, None),
        (y, (0.7, 0.15, 0.15), True, np.where(np.arange(503) >= 450, 2, -1)),  # an official test set
    ]
    for labels, fractions, stratify, preset in cases:
        expected = _documented_split(labels, fractions, seed, stratify, preset)
        got = split_indices(labels, fractions, seed, stratify=stratify, preset=preset)
        for name in ("train", "val", "test"):
            assert got[name].tolist() == expected[name], (name, fractions, preset is not None)
    parts = split_indices(y, (0.7, 0.15, 0.15), seed)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [352, 76, 75]  # exact totals over the set
    for c in range(5):  # each class within one sample of its share
        n_c = int((y == c).sum())
        assert abs(int((y[parts["val"]] == c).sum()) - 0.15 * n_c) < 1.5
