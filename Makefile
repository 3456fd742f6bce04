# a2f-cluster. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYS_STAMP := $(VENV)/.sysdeps
# Debian packages the corpus generator and the evaluation harness use (speech synthesis with
# phoneme timing, real speech with transcripts). Installed by the project's own setup.
APT_PACKAGES := espeak-ng libespeak-ng1 flite pocketsphinx-testdata sox
export RAY_USAGE_STATS_ENABLED := 0
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help install sysdeps run test test-unit lint data data-real train train-check bench bench-resample bench-solver bench-models bench-capacity scale-out clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,data]"
	touch $(STAMP)

$(SYS_STAMP): | $(STAMP)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	fi
	touch $(SYS_STAMP)

install: $(STAMP) $(SYS_STAMP) ## create .venv, install the project with the dev tools and Debian packages

sysdeps: $(SYS_STAMP) ## install the Debian packages (espeak-ng, flite, pocketsphinx-testdata, sox)

run: $(STAMP) ## run the main job on the embedded defaults (see README)
	$(VENV)/bin/a2f run

test: $(STAMP) $(SYS_STAMP) lint ## install, lint, run the whole test suite
	$(PY) -m pytest -q

test-unit: $(STAMP) $(SYS_STAMP) ## unit tests only (NumPy only, fast)
	$(PY) -m pytest -q tests/unit

lint: $(STAMP) ## ruff + the import-linter contract (a2f_actors stays pure compute)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

data: $(STAMP) $(SYS_STAMP) ## build the synthetic speech corpus (CONFIG=small for a quick one)
	$(VENV)/bin/a2f data build --config $(or $(CONFIG),full)

data-real: $(STAMP) $(SYS_STAMP) ## recorded speech for training: Asterisk's English prompts, force-aligned (optional; not in the presets)
	$(PY) -m pip install -q -e ".[dev,data]"
	$(PY) -m a2f_train.corpus.real_prompts data/corpus/real_asterisk --config full_piper

train: $(STAMP) $(SYS_STAMP) ## retrain the default networks into models/ (needs make data and make data CONFIG=full_piper)
	$(PY) -m pip install -q -e ".[dev,data,train]"
	$(VENV)/bin/a2f train regression --seed 0
	$(VENV)/bin/a2f train regression --seed 1 --config a2f_train/train/presets/regression_finetune.yaml
	$(VENV)/bin/a2f train diffusion
	$(VENV)/bin/a2f train diffusion --config a2f_train/train/presets/diffusion_finetune.yaml
	$(VENV)/bin/a2f train diffusion --config a2f_train/train/presets/diffusion_chain.yaml
	$(VENV)/bin/a2f train emotion

# Rebuilds into out/train_check (not models/) and compares file by file. Emotion is checked the
# same way by hand (docs/models/emotion.md); the diffusion package cannot be rebuilt (its
# initial weights were unseeded: docs/models/diffusion.md).
train-check: $(STAMP) $(SYS_STAMP) ## retrain the regression package (~10 min) and check it is byte-identical to models/ada_v2.3
	$(PY) -m pip install -q -e ".[dev,data,train]"
	$(VENV)/bin/a2f train regression --seed 0 --out out/train_check
	$(VENV)/bin/a2f train regression --seed 1 --config a2f_train/train/presets/regression_finetune.yaml --out out/train_check
	diff -r out/train_check/ada_v2.3 models/ada_v2.3 && echo "train-check: out/train_check/ada_v2.3 is byte-identical to models/ada_v2.3"

bench-resample: $(STAMP) ## resampler accuracy and speed
	$(PY) benchmarks/bench_resample.py

bench-solver: $(STAMP) ## post-processing + blendshape solve throughput vs tracks
	$(PY) benchmarks/bench_solver.py

bench-models: $(STAMP) ## default networks: ONNX Runtime frames/s, FLOPs (regression, diffusion)
	$(PY) benchmarks/bench_models.py
	$(PY) benchmarks/bench_models_diffusion.py bench

bench-capacity: $(STAMP) ## capacity: raw model, Triton, Serve pipeline (serving efficiency), max real-time streams (median of 3 sweeps), solver
	$(PY) benchmarks/bench_capacity.py --sweeps 3

bench: bench-resample bench-solver bench-models bench-capacity ## all benchmarks

scale-out: $(STAMP) $(SYS_STAMP) ## 3 Ray nodes on this host: autoscaling ramp, replicas sampled, stop (docs/scale_out.md)
	cluster/local_multinode.sh --levels 1,8,16,2 --duration-s 30 --tail-s 40 --out results/scale_out/ramp

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache
