# Two commands for a fresh machine:
#   make run    set up a virtual environment, seed demo data, serve with a private Redis
#   make test   run the whole test suite
# Then `. .venv/bin/activate` puts `claimgate` and the project's `python` on PATH.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test test-cluster lint proto client bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# setuptools notes that an editable install with a mapped package directory
	@# (claims -> proto/claims) uses an import finder; that note is not a problem here.
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

# The Node.js client test's packages (tests/node), when npm is installed.
NODE_STAMP := tests/node/node_modules/.installed
$(NODE_STAMP): tests/node/package-lock.json
	(cd tests/node && npm ci --no-audit --no-fund --loglevel=error) && touch $(NODE_STAMP) \
	  || echo "npm ci failed in tests/node: the Node.js client test will fail"

NODE_DEPS := $(if $(shell command -v npm),$(NODE_STAMP))

setup: $(STAMP)

run: setup
	$(BIN)/claimgate serve --seed-demo --plaintext

test: setup $(NODE_DEPS)
	$(BIN)/python -m pytest

test-cluster: setup
	$(BIN)/python -m pytest -m cluster

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

proto: setup
	$(BIN)/python proto/generate.py

client: setup
	$(BIN)/python examples/pharmacy_client.py

clean:
	rm -rf $(VENV) .claimgate .pytest_cache tests/node/node_modules
