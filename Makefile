# Two commands on a fresh clone:
#   make setup   install the suite, then `inv setup --backend embedded`: a working local
#                stack with no Docker needed
#   make test    install the suite, then run the whole test suite
# Installs are idempotent and quick when nothing changed (stamp files under .venv/).

VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
WS     := examples/lomash-wood

.PHONY: setup test install bench clean

setup: install
	$(BIN)/inv setup --backend embedded

test: install
	$(BIN)/pytest -n 2 --dist loadgroup

install: $(VENV)/.stamp-python tools/node_modules/.stamp $(WS)/node_modules/.stamp

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

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) tools/node_modules $(WS)/node_modules $(WS)/.lomash
