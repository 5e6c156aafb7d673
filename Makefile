# The two commands: `make serve` and `make test`. Each bootstraps .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.framecast-installed
DIFFUSERS_STAMP := $(VENV)/.framecast-diffusers-installed
# mcp-seedance (AceData's MCP server, driven by the acceptance tests) needs mcp<2, so it gets
# an environment of its own, installed exactly as a user would install it.
SEEDANCE_VENV := .venv-seedance
SEEDANCE_STAMP := $(SEEDANCE_VENV)/.installed
SEEDANCE_PINS := mcp==1.30.0 mcp-seedance==2026.4.30.0

.PHONY: serve test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The GPU engines' extra (torch, diffusers): the tests run them on tiny pipelines on the CPU.
$(DIFFUSERS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,diffusers]'
	touch $(DIFFUSERS_STAMP)

$(SEEDANCE_STAMP): Makefile
	test -x $(SEEDANCE_VENV)/bin/python || $(PYTHON) -m venv $(SEEDANCE_VENV)
	$(SEEDANCE_VENV)/bin/python -m pip install --quiet $(SEEDANCE_PINS)
	touch $(SEEDANCE_STAMP)

serve: $(STAMP)
	$(BIN)/framecast serve

test: $(DIFFUSERS_STAMP) $(SEEDANCE_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	FRAMECAST_TEST_SEEDANCE_PYTHON=$(CURDIR)/$(SEEDANCE_VENV)/bin/python \
	FRAMECAST_REQUIRE_DIFFUSERS=1 $(BIN)/python -m pytest -q -ra

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(SEEDANCE_VENV) build *.egg-info src/*.egg-info
