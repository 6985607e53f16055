# The README's commands. Every target installs what it needs first (venv, npm ci).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-console.txt requirements-dev.txt pyproject.toml | cksum | cut -d' ' -f1)
NODE_STAMP := node_modules/.installed-$(shell cat package-lock.json | cksum | cut -d' ' -f1)

# Debian's chromium; CHROMIUM=/path/to/chrome names another Chromium build (GitHub's runners).
CHROMIUM ?= /usr/bin/chromium

.PHONY: setup chromium demo run test lint bench chaos mutation clean

# The console (guest-onboarding) is installed editable, with the project's [project.scripts].
$(STAMP): requirements.txt requirements-console.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## chromium: Debian's headless browser, for the tests that open the console's HTML report
chromium:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Debian's chromium (the report's browser tests need it)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
	  echo "chromium is missing and this is not root: run 'sudo apt-get install -y chromium'" \
	    "(the report's browser tests fail without it under CI=true, and skip otherwise)"; \
	fi

setup: $(STAMP) $(NODE_STAMP) chromium

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

## mutation: mutmut over guest_onboarding/domain/ and handlers/ against the fast tiers (not part of
## test); report in bench-results/mutation.{json,md}. MUTATION_ARGS="--only 'guest_onboarding.domain.*'
## --max-children 1" narrows it; survivors no test can kill are in tests/mutation/equivalent.toml
MUTATION_STAMP := $(VENV)/.mutation-$(shell cat requirements-mutation.txt | cksum | cut -d' ' -f1)
$(MUTATION_STAMP): requirements-mutation.txt $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-mutation.txt
	@rm -f $(VENV)/.mutation-* && touch $@

mutation: setup $(MUTATION_STAMP)
	$(PY) -m bench.mutation $(MUTATION_ARGS)

clean:
	rm -rf mutants $(VENV) node_modules bench-results *.egg-info .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
