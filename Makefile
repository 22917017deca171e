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

test: $(STAMP) wheel-smoke
	$(BIN)/ruff check .
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The built wheel, installed outside the checkout, runs (a file missing from the package data fails here).
wheel-smoke: $(STAMP)
	tests/packaging/wheel_smoke.sh $(BIN)/python

lint: $(STAMP)
	$(BIN)/ruff check .

screenshots: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m workbench.ui.screenshots docs/screenshots

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
