# The set-up commands of the README. Each target creates .venv when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Both wheels come from this machine's local package index (no CUDA download);
# GPU machines may carry another torch >= 2.4, which the package accepts.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest

.PHONY: demo test test-all bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH_SPEC) 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import torch, torchvision" 
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,torch,plots]' 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/abawbench --version
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/abawbench demo --out demo

test: $(STAMP)
	$(PYTEST) -q -m "not slow and not gpu"

test-all: $(STAMP)
	$(PYTEST) -q

bench: $(STAMP)
	$(PYTEST) benchmarks -q -o python_files='bench_*.py' -p no:cacheprovider --benchmark-disable-gc

clean:
	rm -rf $(VENV) demo .benchmarks .pytest_cache
