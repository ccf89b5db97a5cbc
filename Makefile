# Two commands for a fresh machine: `make run` and `make test`. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
STAMP := $(VENV)/.installed
CLI_STAMP := $(VENV)/.installed-cli
SAM_STAMP := $(SAM_VENV)/.installed
PIP_FLAGS := --disable-pip-version-check --no-input -q

.PHONY: run test lint typecheck validate-template pytest bench install clean dist browser

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(BIN)/python -m pip install $(PIP_FLAGS) -e '.[dev]'
	@touch $(STAMP) $(CLI_STAMP)

# What `make run` needs and nothing more: the package with its `cli` extra (no test tools).
# The first run says what it does and shows pip's progress; later runs skip it.
$(CLI_STAMP): pyproject.toml
	@echo "==> first run: setting up $(VENV) with thermostat and its cli extra (a minute or two; later runs skip this)"
	@test -x $(BIN)/python || { echo "==> creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "==> upgrading pip"
	@$(BIN)/python -m pip install --disable-pip-version-check --no-input -q --upgrade pip
	@echo "==> installing thermostat[cli] (boto3, Powertools, pydantic, moto's server, ...)"
	@$(BIN)/python -m pip install --disable-pip-version-check --no-input --progress-bar on -e '.[cli]' \
	  | grep -E --line-buffered '^(Collecting|Successfully installed)' || true
	@$(BIN)/python -c "import handlers.cli, moto.server" || { echo "==> the install failed: see pip's output above" >&2; exit 1; }
	@echo "==> ready: $(BIN)/thermostat $$($(BIN)/thermostat --version | cut -d' ' -f2)"
	@touch $(CLI_STAMP)

# aws-sam-translator pins its own pydantic: it gets an environment of its own.
$(SAM_STAMP): serverless/requirements-validate.txt
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(SAM_VENV)/bin/python -m pip install $(PIP_FLAGS) -r serverless/requirements-validate.txt
	@touch $(SAM_STAMP)

install: $(STAMP)

## The main job, locally, on the embedded stack: no AWS account, no Docker.
run: $(CLI_STAMP)
	$(BIN)/thermostat local --demo

## The wheel (dist/lambda_thermostat-*.whl) and the runtime layer's zip (dist/thermostat-runtime-layer.zip).
## The layer's bytecode is compiled by python$(LAMBDA_PYTHON) (the template's runtime) when it is on PATH.
LAMBDA_PYTHON ?= 3.12
DIST_DIR ?= dist
LAYER_DIR ?= build/layer
dist: $(CLI_STAMP)
	rm -rf $(DIST_DIR) $(LAYER_DIR) && mkdir -p $(DIST_DIR) $(LAYER_DIR)
	$(BIN)/python -m pip wheel $(PIP_FLAGS) --no-deps --wheel-dir $(DIST_DIR) .
	@layer_python=$$(command -v python$(LAMBDA_PYTHON) 2>/dev/null && python$(LAMBDA_PYTHON) -c pass 2>/dev/null) \
	  || { layer_python=$(abspath $(BIN)/python); \
	       echo "==> python$(LAMBDA_PYTHON) not found: the layer's bytecode is compiled by $$($$layer_python -V)" \
	            "(a Lambda on another version compiles it at import; set LAMBDA_PYTHON to match the runtime)"; }; \
	  $(MAKE) --no-print-directory --makefile serverless/Makefile build-RuntimeLayer \
	    ARTIFACTS_DIR=$(abspath $(LAYER_DIR)) PYTHON=$$layer_python
	cd $(LAYER_DIR) && $(abspath $(BIN)/python) -m zipfile -c $(abspath $(DIST_DIR)/thermostat-runtime-layer.zip) python
	@ls -l $(DIST_DIR)

## Headless Chromium for the report's browser test (Debian's package; apt-get needs root).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "==> installing chromium (Debian's package) for the report's browser test"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; \
	else \
	  echo "==> /usr/bin/chromium is missing and this is not root with apt-get: the report's browser test will skip" \
	       "(install it: sudo apt-get install --no-install-recommends chromium)"; \
	fi

## Lint, type check, template validation and every test.
test: lint typecheck validate-template browser pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy domain infra emulator handlers serverless/layer/python/thermostat_runtime thermostat_zappa thermostat_cdk

validate-template: $(SAM_STAMP)
	$(SAM_VENV)/bin/python serverless/validate.py

pytest: $(STAMP)
	$(BIN)/python -m pytest -m "not bench" -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(SAM_VENV) build .mypy_cache .ruff_cache .pytest_cache
