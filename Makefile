# The cdk CLI reads every CDK* environment variable as an option: our own variables are named KQ_*.
# Two commands a new machine needs (see README): `make demo` and `make test`.
# Both install what they need from the project's own pinned files, and skip that when nothing changed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOWEST := .venv-lowest
KQ_CDK_CLI := node_modules/.bin/cdk --no-notices

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_DEPRECATED := quiet
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := true

.PHONY: demo test test-lowest lint typecheck unit bench setup clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[cdk,dev]'
	touch $@

## The oldest releases the package declares (constraints-lowest.txt), in a venv of their own, for test-lowest.
$(LOWEST)/.installed: pyproject.toml constraints-lowest.txt
	test -x $(LOWEST)/bin/python || $(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/pip install --quiet --disable-pip-version-check -c constraints-lowest.txt -e '.[cdk,dev]'
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

## CI also runs the layers that use aws-cdk-lib, cdk-nag, botocore and tree-sitter on their oldest declared releases
## (constraints-lowest.txt): the construct and the plugin at synth, the rules on CDK stacks, the playbook and the
## commands on a moto server, Terraform parsing.
LOWEST_TESTS := tests/constructs/test_key_quarantine.py tests/constructs/test_checks_plugin.py \
	tests/rules/test_rules_on_cdk_stacks.py tests/rules/test_hcl.py tests/handlers/test_playbook.py \
	tests/e2e/test_cli_on_moto_server.py tests/e2e/test_drill.py
test-lowest: $(LOWEST)/.installed node_modules/.installed
	$(LOWEST)/bin/pip list --disable-pip-version-check 2>/dev/null | grep -iE '^(aws-cdk-lib|cdk-nag|constructs|boto3|botocore|PyYAML|tree-sitter) '
	PATH="$(CURDIR)/$(LOWEST)/bin:$(CURDIR)/node_modules/.bin:$$PATH" $(LOWEST)/bin/pytest -n 2 --dist loadgroup -q $(LOWEST_TESTS)

bench: setup
	PATH="$(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$$PATH" $(BIN)/python bench/synth_bench.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
