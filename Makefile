# The README's commands. Every target installs what it needs first (venv, npm ci).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
NODE_STAMP := node_modules/.installed-$(shell cat package-lock.json | cksum | cut -d' ' -f1)

.PHONY: setup demo run test lint bench chaos clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(STAMP) $(NODE_STAMP)

## demo: run the sample HR messages end to end on Azurite + the Graph emulator + the local host
demo: setup
	$(PY) -m devstack demo

## run: the same stack, until Ctrl-C; put messages on the queue with `python -m devstack enqueue`
run: setup
	$(PY) -m devstack run

## test: every test (unit, integration, end to end, infra checks)
test: setup
	$(PY) -m pytest

## lint: ruff, mypy, the import contracts (import-linter), the no-import-cycles check and actionlint
lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q -p no:cacheprovider tests/test_import_graph.py
	$(VENV)/bin/actionlint

## bench: benchmarks (not part of test); reports under bench-results/
bench: setup
	$(PY) -m bench

## chaos: 1,000 messages through faults and host restarts
chaos: setup
	$(PY) -m bench.chaos

clean:
	rm -rf $(VENV) node_modules bench-results .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
