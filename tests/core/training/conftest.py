"""Shared data for the trainer tests: the digits loaded once, small models, a project factory."""

from __future__ import annotations

import copy

import pytest
import torch

from workbench.core.data import DatasetSettings, load_dataset


@pytest.fixture(scope="session")
def digits():
    return load_dataset(DatasetSettings())


@pytest.fixture
def fresh_digits(digits):
    """A copy whose tensors a test may change."""
    bundle = copy.copy(digits)
    for name in ("train", "val", "test"):
        split = copy.copy(digits.split(name))
        split.x, split.y = split.x.clone(), split.y.clone()
        setattr(bundle, name, split)
    return bundle


@pytest.fixture(autouse=True)
def _one_thread():
    """Identical curves need identical reductions: pin the intra-op thread count for the test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
