"""digits through load_dataset, and the split rules every source shares."""

import numpy as np
import pytest
import torch

from workbench.core.data import DatasetSettings, SplitSettings, load_dataset
from workbench.core.data.splits import split_indices
from workbench.core.errors import Cancelled, UserError


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DatasetSettings())


def test_digits_bundle_shapes_and_normalization(digits):
    meta = digits.meta
    assert meta.kind == "digits" and meta.input_shape == (1, 8, 8)
    assert meta.num_classes == 10 and meta.class_names == [str(i) for i in range(10)]
    assert len(digits.train) + len(digits.val) + len(digits.test) == 1797
    assert len(digits.train) == pytest.approx(0.7 * 1797, abs=10)
    assert digits.train.x.dtype == torch.float32 and digits.train.y.dtype == torch.int64
    assert digits.train.x.shape[1:] == (1, 8, 8)
    # normalized with the train split's statistics: train is ~N(0, 1), the others only close to it
    assert abs(float(digits.train.x.mean())) < 1e-4 and float(digits.train.x.std()) == pytest.approx(
        1, abs=1e-3
    )
    assert 0.25 < meta.mean[0] < 0.35 and 0.3 < meta.std[0] < 0.45


def test_digits_splits_are_disjoint_and_stratified(digits):
    sets = [set(digits.split(n).indices) for n in ("train", "val", "test")]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert len(sets[0] | sets[1] | sets[2]) == 1797
    for split in (digits.train, digits.val, digits.test):
        counts = torch.bincount(split.y, minlength=10).float() / len(split)
        assert float(counts.min()) > 0.08 and float(counts.max()) < 0.12  # every class ~10% in every split


def test_sample_image_matches_the_source_pixels(digits):
    from sklearn.datasets import load_digits

    images = load_digits().images
    for i in (0, 5, 100):
        img = digits.sample_image("test", i)
        assert img.dtype == np.uint8 and img.shape == (8, 8)
        src = images[digits.source_index("test", i)]
        assert np.abs(img.astype(float) - src / 16 * 255).max() <= 1.0


def test_same_seed_same_split_other_seed_other_split():
    a = load_dataset(DatasetSettings(split=SplitSettings(seed=3)))
    b = load_dataset(DatasetSettings(split=SplitSettings(seed=3)))
    c = load_dataset(DatasetSettings(split=SplitSettings(seed=4)))
    assert a.val.indices == b.val.indices and torch.equal(a.val.x, b.val.x)
    assert a.val.indices != c.val.indices


def test_progress_and_cancel():
    calls = []
    load_dataset(DatasetSettings(), progress=lambda d, t, m: calls.append((d, t, m)))
    assert calls and all(isinstance(m, str) for _, _, m in calls)
    with pytest.raises(Cancelled):
        load_dataset(DatasetSettings(), cancel=lambda: True)


def test_split_fractions_and_presets():
    y = np.repeat(np.arange(3), [50, 30, 20])
    parts = split_indices(y, (0.6, 0.2, 0.2), seed=1)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [60, 20, 20]
    for k in ("val", "test"):
        assert np.abs(np.bincount(y[parts[k]], minlength=3) - [10, 6, 4]).max() <= 1
    # many small classes: the totals still match the percentages (no per-class rounding drift)
    y30 = np.repeat(np.arange(10), 30)
    parts = split_indices(y30, (0.7, 0.15, 0.15), seed=0)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [210, 45, 45]
    assert np.bincount(y30[parts["val"]], minlength=10).min() >= 4
    preset = np.full(100, -1, dtype=np.int8)
    preset[:10] = 2  # an official test set: kept as it is
    parts = split_indices(y, (0.6, 0.2, 0.2), seed=1, preset=preset)
    assert parts["test"].tolist() == list(range(10))
    assert len(parts["train"]) + len(parts["val"]) == 90 and 67 <= len(parts["train"]) <= 68  # the rest 60:20
    assert split_indices(y, (1.0, 0.0, 0.0), seed=0)["train"].tolist() == list(range(100))


def test_single_class_is_refused(tmp_path):
    from workbench.core.data.splits import check_classes

    with pytest.raises(UserError, match="only one class"):
        check_classes(np.zeros(5, dtype=np.int64), ["cat"])
    with pytest.raises(UserError, match="outside the range"):
        check_classes(np.array([0, 1, 2]), ["a", "b"])
