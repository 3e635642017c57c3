# One command each: `make demo` sets up and renders the example episode offline;
# `make test` sets up and runs the test suite; `make test-isolated` runs each plugin's tests
# with only the kernel and that plugin's declared dependencies installed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGIN_DIRS := recoil_plugins_grouping recoil_plugins_video \
	plugins/recoil-coverage plugins/recoil-i2v plugins/recoil-r2v-multi \
	plugins/recoil-seeddance plugins/recoil-animatic plugins/recoil-postgres plugins/recoil-replicate \
	plugins/recoil-fal plugins/recoil-procrastinate plugins/recoil-review plugins/recoil-otio
# Each distribution with its own `test` extra (the review page's browser driver, PyAV for
# the export's durations...); pip notes the ones that declare none and goes on.
DISTS := -e ".[test]" $(foreach dir,$(PLUGIN_DIRS),-e "$(dir)[test]")

.PHONY: setup test test-isolated demo lint bench clean

$(BIN)/recoil: pyproject.toml $(addsuffix /pyproject.toml,$(PLUGIN_DIRS))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(DISTS)
	touch $(BIN)/recoil

setup: $(BIN)/recoil

# The kernel's and integration tests (tests/), then every distribution's own tests/.
# Bytecode is written (to the sources' __pycache__ folders) even where
# PYTHONDONTWRITEBYTECODE is set: the suite starts the `recoil` command hundreds of times,
# and each would compile the editable sources again (about a minute of the suite on a
# 2-core machine). The installed dependencies have theirs from pip.
test: setup
	PYTHONDONTWRITEBYTECODE= \
		$(BIN)/python -m pytest -q -n auto tests $(wildcard $(addsuffix /tests,$(PLUGIN_DIRS)))

# Each plugin's tests in a fresh venv holding only the kernel and that plugin's declared
# dependencies (built as wheels), so a hidden dependency on a sibling fails.
test-isolated: setup
	.ci/plugin_isolation.sh $(PLUGIN_DIRS)

# Plugins reach the kernel only through recoil_core.api (tests/test_api.py checks their
# imports) and docs/api.md matches it (tests/test_api_reference.py).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict recoil_core
	$(BIN)/mypy --strict $(addsuffix /src,$(PLUGIN_DIRS)) plugins/_template/src
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_api.py tests/test_api_reference.py

demo: setup
	$(BIN)/recoil run examples/ep001/plan.json

clean:
	rm -rf $(VENV) recoil-projects
