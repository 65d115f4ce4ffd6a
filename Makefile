# Riposte — every target bootstraps itself: a fresh clone needs only python3 (3.11+).
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_PYTHON_DOWNLOADS := never

.PHONY: help install demo dev test lint typecheck unit fmt clean lock histories fingerprints chaos bench

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.installed: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

# The workflow sandbox re-imports workflow modules for every new run; with PYTHONDONTWRITEBYTECODE
# set (as on these machines) that means compiling them from source each time unless bytecode is cached.
SOURCES := riposte workflows activities playbooks clients gateway simulators cli detect intake bench worker.py

install: $(VENV)/.installed  ## create .venv from the lock file, and byte-compile the sources
	@$(BIN)/python -m compileall -q -j 0 $(SOURCES)

demo: install  ## the whole stack plus scripted attacks (see README)
	$(BIN)/riposte demo $(ARGS)

dev: install  ## the whole embedded stack, until Ctrl-C
	$(BIN)/riposte dev $(ARGS)

lint: install  ## ruff + mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

CHROMIUM := /usr/bin/chromium

$(CHROMIUM):  # Debian's Chromium, for the browser tests (Playwright drives the system browser)
	@if [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
	  || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium); \
	else echo "the browser tests need Chromium: sudo apt-get install chromium" >&2; exit 1; fi

test: lint $(CHROMIUM)  ## lint, then the whole test suite against real Temporal servers (and headless Chromium)
	$(BIN)/pytest $(ARGS)

histories: install  ## record fresh workflow histories into tests/histories/ (keep the old ones)
	$(BIN)/python -m tests.histories.record $(or $(TAG),$(shell date +%Y%m%d))

fingerprints: install  ## accept the current workflow code's fingerprints (after `make histories`)
	$(BIN)/python -m tests.fingerprints --update

bench: install  ## benchmarks next to Temporal's own ceiling; writes docs/benchmarks.md (ARGS=--quick)
	$(BIN)/python -m bench $(ARGS)

chaos: install  ## the full fault campaigns (minutes): worker kills, storms, a flaky Akku
	$(BIN)/pytest tests/chaos -m "slow or not slow" -s $(ARGS)

fmt: install  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lock: $(UV)  ## re-resolve uv.lock after editing pyproject.toml
	$(UV) lock

clean:  ## remove the virtualenvs and local state
	rm -rf $(VENV) $(TOOLS) .state .mypy_cache .pytest_cache .ruff_cache
