# Two entry points (see README.md):
#   make demo   set up .venv and run the main job (notebook pipeline on the generated dataset)
#   make test   set up .venv and run the test suite (what .ci/run calls)
# Needs only Python >= 3.9 (3.11 recommended) with venv; everything else comes from PyPI.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= cpu,notebooks,dev
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint format bench clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: python3 not found (install Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	$(BIN)/python -m ipykernel install --sys-prefix --name simdr --display-name "Python (simdr)" >/dev/null
	@touch $@

demo: setup
	$(BIN)/simdr pipeline

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python benchmarks/codec_oracle.py

clean-venv:
	rm -rf $(VENV)
