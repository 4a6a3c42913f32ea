# The two commands: `make demo` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV   ?= .venv
CORES  ?= 2
BIN    := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
STAMP  := $(VENV)/.installed

.PHONY: demo test install lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# PyRadiomics has no wheel for this Python and needs numpy (and versioneer) present at
# build time, so it is built in a separate step without build isolation.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet "numpy>=2.0" versioneer
	$(BIN)/pip install --quiet --no-build-isolation "pyradiomics==3.0.1"
	$(BIN)/pip install --quiet -e ".[all]"
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -n $(CORES) tests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint

format: $(STAMP)
	$(BIN)/ruff format src tests workflow/scripts
	$(BIN)/snakefmt Snakefile workflow/rules

clean:
	rm -rf results logs .snakemake
