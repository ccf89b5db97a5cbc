# Two commands for a fresh machine: `make run` and `make test`. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
STAMP := $(VENV)/.installed
SAM_STAMP := $(SAM_VENV)/.installed
PIP_FLAGS := --disable-pip-version-check --no-input -q

.PHONY: run test lint typecheck validate-template pytest bench install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(BIN)/python -m pip install $(PIP_FLAGS) -e '.[dev]'
	@touch $(STAMP)

# aws-sam-translator pins its own pydantic: it gets an environment of its own.
$(SAM_STAMP): serverless/requirements-validate.txt
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(SAM_VENV)/bin/python -m pip install $(PIP_FLAGS) -r serverless/requirements-validate.txt
	@touch $(SAM_STAMP)

install: $(STAMP)

## The main job, locally, on the embedded stack: no AWS account, no Docker.
run: $(STAMP)
	$(BIN)/thermostat local --demo

## Lint, type check, template validation and every test.
test: lint typecheck validate-template pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy domain infra emulator handlers serverless/layer/python/thermostat_runtime

validate-template: $(SAM_STAMP)
	$(SAM_VENV)/bin/python serverless/validate.py

pytest: $(STAMP)
	$(BIN)/python -m pytest -m "not bench" -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(SAM_VENV) build .mypy_cache .ruff_cache .pytest_cache
