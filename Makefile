# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint venv screenshots bench clean wheel-smoke

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed (found " + sys.version.split()[0] + ")")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/workbench $(PROJECT)

# tests/core runs with PySide6 / pyqtgraph blocked from importing (tests/conftest.py), the rest with Qt offscreen.
# Both runs always run; the target fails if either failed.
test: $(STAMP) lint wheel-smoke
	WORKBENCH_TEST_BLOCK_QT=1 $(BIN)/python -m pytest -q -p no:pytest-qt -W ignore::pytest.PytestConfigWarning \
		tests/core $(PYTEST_ARGS); core=$$?; \
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q --ignore=tests/core -m "not screenshots" $(PYTEST_ARGS); \
	rest=$$?; test $$core -eq 0 -a $$rest -eq 0

# The built wheel, installed outside the checkout, runs (a file missing from the package data fails here).
wheel-smoke: $(STAMP)
	tests/packaging/wheel_smoke.sh $(BIN)/python

# ruff, the import contracts in pyproject.toml ([tool.importlinter]) and the type checker on workbench/core.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

screenshots: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m workbench.ui.screenshots docs/screenshots
	QT_QPA_PLATFORM=offscreen WORKBENCH_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q -m screenshots tests/ui
	QT_QPA_PLATFORM=offscreen $(BIN)/python bench/runs.py --gui-only --screenshots docs/screenshots  # 1,000 runs

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
