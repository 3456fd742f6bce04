# a2f-cluster. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export RAY_USAGE_STATS_ENABLED := 0
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help install run test test-unit lint bench bench-resample bench-solver clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with the dev tools

run: $(STAMP) ## run the main job on the embedded defaults (see README)
	$(VENV)/bin/a2f run

test: $(STAMP) lint ## install, lint, run the whole test suite
	$(PY) -m pytest -q

test-unit: $(STAMP) ## unit tests only (NumPy only, fast)
	$(PY) -m pytest -q tests/unit

lint: $(STAMP) ## ruff + the import-linter contract (a2f_actors stays pure compute)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

bench-resample: $(STAMP) ## resampler accuracy and speed
	$(PY) benchmarks/bench_resample.py

bench-solver: $(STAMP) ## post-processing + blendshape solve throughput vs tracks
	$(PY) benchmarks/bench_solver.py

bench: bench-resample bench-solver ## all benchmarks

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache
