"""Real inputs written into tmp folders from scikit-learn's digits."""

from __future__ import annotations

import pytest

from workbench.core.data.synthetic import digits_uint8, write_image_folder


@pytest.fixture(scope="session")
def digits_arrays():
    return digits_uint8()


@pytest.fixture
def image_folder(tmp_path, digits_arrays):
    return write_image_folder(tmp_path / "imgs", *digits_arrays)
