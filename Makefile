# The set-up commands of the README. Each target creates .venv when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Both wheels come from this machine's local package index (no CUDA download);
# GPU machines may carry another torch >= 2.4, which the package accepts.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest

.PHONY: demo test test-all bench mutate clean

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

# Mutation testing (not part of `make test`): the scoring modules whole, and the data layer's
# label, split and augmentation functions. Override MUTANTS to run one module, e.g.
# `make mutate MUTANTS='abawbench.metrics.*'`. Takes tens of minutes: see README.md.
MUTANTS ?= 'abawbench.metrics.*' 'abawbench.formats.*' 'abawbench.scoring.*' 'abawbench.tracks.*' \
	'abawbench.multitask.*' \
	'abawbench.atomic.*' \
	'abawbench.data.affwild2.x_has_label*' 'abawbench.data.affwild2.x_frames_of*' \
	'abawbench.data.affwild2.x_shared_*' 'abawbench.data.affwild2.x_subject_group*' \
	'abawbench.data.affwild2.x__label_histogram*' 'abawbench.data.affwild2.x_holdout_split*' \
	'abawbench.data.draws.x_augmentation_draws*' 'abawbench.data.draws.x_split_keys*' \
	'abawbench.data.decoding.x_crop_and_flip*' 'abawbench.data.datasets.xǁ_AugmentedImagesǁ_corners*' \
	'abawbench.data.mixing.x_valid_*' 'abawbench.data.mixing.x_thin_expr_positions*' \
	'abawbench.data.mixing.x_*balance_weights*' 'abawbench.data.mixing.x_va_histogram_cells*' \
	'abawbench.data.mixing.x__edges*' 'abawbench.data.x_*' 'abawbench.data.afew_va.*' 'abawbench.data.affectnet.*' \
	'abawbench.data.synth.build.x__check_target*'

mutate: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[mutate]' 2>&1 | grep -v "^WARNING: Location" || true
	ABAWBENCH_MUTATE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m mutmut run --max-children 2 $(MUTANTS)
	$(BIN)/python tests/mutation_report.py $(MUTANTS)

clean:
	rm -rf $(VENV) demo .benchmarks .pytest_cache mutants
