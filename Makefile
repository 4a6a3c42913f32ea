# The two commands: `make demo` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV   ?= .venv
CORES  ?= 2
BIN    := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
STAMP  := $(VENV)/.installed

.PHONY: demo test install sysdeps slurm report lint format clean

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

# Debian packages of the tests: a single-node Slurm (tests/test_slurm.py) and headless Chromium
# (screenshot of the report). Installed when missing and running as root; a no-op when present.
DEB_TEST := munge slurmctld slurmd slurm-client chromium
sysdeps:
	@command -v dpkg-query >/dev/null || { echo "sysdeps: not a Debian system; install $(DEB_TEST) yourself"; exit 0; }; \
	missing=$$(for p in $(DEB_TEST); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "sysdeps: run as root to install:" $$missing; exit 0; fi; \
	echo "sysdeps: installing" $$missing; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null

# Start the local single-node Slurm the Slurm test submits to (idempotent).
slurm: sysdeps
	bash tests/slurm/start_local_slurm.sh

report: $(STAMP)
	$(BIN)/snakemake --configfile config/config.yaml --report results/report.html

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml

test: $(STAMP) sysdeps
	@bash tests/slurm/start_local_slurm.sh || echo "make test: no local Slurm; tests/test_slurm.py fails in CI, skips elsewhere"
	$(BIN)/python -m pytest -n $(CORES) --dist loadfile --no-loadscope-reorder --durations=20 tests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint

format: $(STAMP)
	$(BIN)/ruff format src tests workflow/scripts
	$(BIN)/snakefmt Snakefile workflow/rules

clean:
	rm -rf results logs .snakemake
