import pytest
from export_helpers import digits_data, trained_digits_run


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    return trained_digits_run(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="session")
def digits():
    return digits_data()


@pytest.fixture
def source(digits_run, digits):
    from workbench.core.export.source import source_from_checkpoint

    return source_from_checkpoint(digits_run, data=digits)
