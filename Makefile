# The cdk CLI reads every CDK* environment variable as an option: our own variables are named KQ_*.
# Two commands a new machine needs (see README): `make demo` and `make test`.
# Both install what they need from the project's own pinned files, and skip that when nothing changed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KQ_CDK_CLI := node_modules/.bin/cdk --no-notices

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_DEPRECATED := quiet
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := true

.PHONY: demo test lint typecheck unit bench setup clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## The main job: synthesize the example app with both rule packs, then show what the rules find in the leaky app.
demo: setup
	KQ_CDK_CLI="$(KQ_CDK_CLI)" BIN="$(BIN)" bash scripts/demo.sh

## Lint, types, tests.
test: setup lint typecheck unit

lint:
	$(BIN)/ruff check src tests bench examples app.py
	$(BIN)/ruff format --check src tests bench examples app.py

typecheck:
	$(BIN)/mypy

unit:
	PATH="$(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$$PATH" $(BIN)/pytest -n 2 --dist loadgroup -q

bench: setup
	PATH="$(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$$PATH" $(BIN)/python bench/synth_bench.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
