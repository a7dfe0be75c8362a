# Two commands on a fresh clone:
#   make setup   install the suite, then `inv setup --backend embedded`: a working local
#                stack with no Docker needed
#   make test    install the suite, then lint it (ruff, mypy) and run the whole test suite
# Installs are idempotent and quick when nothing changed (stamp files under .venv/ and in
# each node_modules/).

VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
WS     := examples/lomash-wood
# The second reference monorepo: nine npm packages, each with its own package-lock.json
NPM_WS := examples/lomash-wood-npm
NPM_PKGS := $(NPM_WS)/api-gateway $(addprefix $(NPM_WS)/services/,auth-service \
            product-service order-payment-service appointment-service content-service \
            customer-service notification-service analytics-service)
NPM_STAMPS := $(addsuffix /node_modules/.stamp,$(NPM_PKGS))

.PHONY: setup test lint install npm-fixture npm-fixture-stamps bench clean

setup: install
	$(BIN)/inv setup --backend embedded

test: install lint
	$(BIN)/pytest -n 2 --dist loadgroup

# ruff (lint and format check) and mypy, configured in pyproject.toml; `make test` runs them first
lint: $(VENV)/.stamp-python
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

install: $(VENV)/.stamp-python tools/node_modules/.stamp $(WS)/node_modules/.stamp npm-fixture

$(VENV)/.stamp-python: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

tools/node_modules/.stamp: tools/package.json tools/package-lock.json
	npm ci --prefix tools --no-audit --no-fund --loglevel=error
	touch $@

$(WS)/node_modules/.stamp: tools/node_modules/.stamp $(WS)/pnpm-lock.yaml
	cd $(WS) && ../../tools/node_modules/.bin/pnpm install --frozen-lockfile --reporter=silent --config.confirmModulesPurge=false
	touch $@

# `npm ci` in each package of the npm fixture, three at a time (the npm cache is shared and
# safe for concurrent use). --ignore-scripts: the only install scripts are prisma's (a Node
# version check, and @prisma/engines' download of engine binaries the fixture never uses).
npm-fixture:
	@$(MAKE) --no-print-directory -j3 npm-fixture-stamps

npm-fixture-stamps: $(NPM_STAMPS)
	@:

$(NPM_WS)/%/node_modules/.stamp: $(NPM_WS)/%/package-lock.json $(NPM_WS)/%/package.json
	cd $(NPM_WS)/$* && npm ci --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error
	touch $@

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) tools/node_modules $(WS)/node_modules $(WS)/.lomash \
	       $(addsuffix /node_modules,$(NPM_PKGS))
