# `make demo` and `make test` create the virtual environment when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch and torchvision as pinned in pyproject.toml; pip takes them from local files where they exist
EXTRAS ?= test,quant,ray,slurm,parquet,timm,hf

.PHONY: demo test test-slow test-cluster lint format clean

$(STAMP): pyproject.toml setup.py src/noisewalk/noise/_normal.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/noisewalk demo --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# Slurm and Ray tests against real daemons on this machine (a single-node Slurm cluster from
# scripts/slurm-localhost.sh, a Ray head); each test skips with the reason where they cannot start
test-cluster: $(STAMP)
	$(BIN)/python -m pytest -q -m cluster -rs tests/cluster

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
