# kpi-workflow: two commands do all the set-up on a fresh machine.
#   make demo   creates .venv, installs, runs the sample cycle
#   make test   creates .venv if needed, runs ruff, mypy and the whole suite

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench migration diagram clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kpi demo

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest exits 5 when it collected no test: that fails the target like any error.
pytest: $(STAMP)
	$(BIN)/pytest

# Debian's chromium for the browser tests (tests/e2e skip with a message without it).
browser:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-mono

# bench/peers.py compares with SpiffWorkflow: the [bench] extra.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.run

# Before the first release the schema is one migration, regenerated from the tables.
migration: $(STAMP)
	$(BIN)/python -m workflow.migrations.regenerate

diagram: $(STAMP)
	$(BIN)/python -c "from workflow.machine import mermaid; print(mermaid())"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis var *.egg-info
