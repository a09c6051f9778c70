# Two entry points (see README.md):
#   make demo   set up .venv and run the main job (notebook pipeline on the generated dataset)
#   make test   set up .venv and run the test suite (what .ci/run calls)
# Needs only Python >= 3.9 (3.11 recommended) with venv; everything else comes from PyPI.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= cpu,notebooks,dev,onnx
STAMP  := $(VENV)/.installed

# Compatibility line: PaddlePaddle 2.6 (the newest paddlepaddle-gpu on PyPI) needs numpy < 2.
VENV26   ?= .venv-paddle26
BIN26    := $(VENV26)/bin
STAMP26  := $(VENV26)/.installed
PADDLE26 ?= paddlepaddle==2.6.2
COMPAT_TESTS ?= tests/test_chain.py tests/test_export.py tests/test_infer.py \
	tests/test_weights_reader.py tests/test_weights_peers.py tests/test_weights_compat.py \
	tests/test_finite_flag.py

.PHONY: setup demo study test lint format bench clean-venv lab setup-paddle26 test-compat bench-deploy

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

# The low-resolution study (heatmap / DARK / SimDR / SA-SimDR at 3 input sizes, 2 seeds;
# about 30 minutes on 2 CPU cores) -> reports/lowres/report.html
study: setup
	$(BIN)/simdr pipeline --run lowres --notebooks 08_lowres_study

# JupyterLab on the notebooks with the project's kernel "Python (simdr)".
lab: setup
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS),jupyter]"
	$(BIN)/jupyter lab notebooks/

# Main suite on .venv (Paddle 3.x), then the compatibility subset (pytest marker `compat`:
# build, train a few steps, checkpoint save/load, export, Paddle Inference) on Paddle 2.6.
# .ci/install-chromium first adds Debian's Chromium for tests/test_browser.py when it can.
test: setup setup-paddle26
	@.ci/install-chromium
	$(BIN)/python -m pytest -q
	$(BIN26)/python -m pytest -q -p no:cacheprovider -m compat $(COMPAT_TESTS)

setup-paddle26: $(STAMP26)

$(STAMP26): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: python3 not found (install Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV26)
	$(BIN26)/python -m pip install --quiet --upgrade pip
	$(BIN26)/python -m pip install --quiet "$(PADDLE26)" "numpy>=1.23,<2" \
		"opencv-python-headless>=4.6,<4.12" "paddle2onnx<2" onnxruntime -e ".[dev]"
	@touch $@

test-compat: setup-paddle26
	$(BIN26)/python -m pytest -q -p no:cacheprovider -m compat $(COMPAT_TESTS)

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python benchmarks/codec_oracle.py

bench-deploy: setup
	$(BIN)/python benchmarks/deploy_speed.py

clean-venv:
	rm -rf $(VENV) $(VENV26)
