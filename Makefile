# kpi-workflow: two commands do all the set-up on a fresh machine.
#   make demo   creates .venv, installs, runs the sample cycle
#   make test   creates .venv if needed, runs ruff, lint-imports, mypy and the whole suite

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: catalog demo test lint typecheck pytest bench migration diagram clean browser screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m workflow.catalog compile
	touch $(STAMP)

# The message catalogues (workflow/locale/*/LC_MESSAGES/*.po) compiled to .mo files;
# `make catalog` after adding or changing messages (then translate the new ones).
catalog: $(STAMP)
	$(BIN)/python -m workflow.catalog update
	$(BIN)/python -m workflow.catalog compile

demo: $(STAMP)
	$(BIN)/kpi demo

test: lint typecheck pytest

# lint-imports checks the layer contracts of pyproject.toml ([tool.importlinter]).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest exits 5 when it collected no test: that fails the target like any error.
pytest: $(STAMP)
	$(BIN)/pytest

# Debian's chromium for the browser tests (tests/e2e skip with a message without it).
browser:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-mono

# A full-page PNG of every page, in both languages, at 1280 and 390 px, in
# var/screenshots/ for review: the browser tests' accessibility tour (axe runs too).
screenshots: $(STAMP)
	KPI_REQUIRE_BROWSER=1 KPI_SCREENSHOTS=var/screenshots $(BIN)/pytest -q \
		tests/e2e/test_accessibility.py -k every_page

bench: $(STAMP)
	$(BIN)/python -m bench.run

# Before the first release the schema is one migration, regenerated from the tables.
migration: $(STAMP)
	$(BIN)/python -m workflow.migrations.regenerate

diagram: $(STAMP)
	$(BIN)/python -c "from workflow.machine import mermaid; print(mermaid())"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .hypothesis var *.egg-info
