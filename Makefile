# One command each: `make demo` sets up and renders the example episode offline;
# `make test` sets up and runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DISTS := -e . -e recoil_plugins_grouping -e recoil_plugins_video \
	-e plugins/recoil-coverage -e plugins/recoil-i2v -e plugins/recoil-r2v-multi \
	-e plugins/recoil-seeddance -e plugins/recoil-animatic \
	-e plugins/recoil-postgres

.PHONY: setup test demo lint bench clean

$(BIN)/recoil: pyproject.toml */pyproject.toml plugins/*/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(DISTS) -e ".[test]"
	touch $(BIN)/recoil

setup: $(BIN)/recoil

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict recoil_core

demo: setup
	$(BIN)/recoil run examples/ep001/plan.json

clean:
	rm -rf $(VENV) recoil-projects
