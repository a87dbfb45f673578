# edge-digits: the two set-up commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Second environment: the runtime on the legacy tflite-runtime backend (numpy<2, no TensorFlow).
VENV_LEGACY := .venv-tflite214
BIN_LEGACY := $(VENV_LEGACY)/bin
DEMO := runs/demo

.PHONY: install install-legacy demo test lint typecheck pytest pytest-legacy pi-test default-model bench fuzz clean

install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,dev,bench,mqtt]'
	touch $@

install-legacy: $(VENV_LEGACY)/.installed
$(VENV_LEGACY)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV_LEGACY)
	$(BIN_LEGACY)/python -m pip install --quiet --upgrade pip
	# The legacy backend as on older Raspberry Pi images; the project itself without
	# ai-edge-litert (--no-deps), its other runtime dependencies named here.
	$(BIN_LEGACY)/python -m pip install --quiet 'tflite-runtime==2.14.0' 'numpy<2' pillow \
		opencv-python-headless 'typer<0.29' rich prometheus-client 'paho-mqtt>=2,<3' pytest hypothesis
	$(BIN_LEGACY)/python -m pip install --quiet --no-deps -e .
	touch $@

# The whole pipeline, briefly: data -> train -> convert (float32, int8) -> classify -> camera.
demo: install
	$(BIN)/edge-digits data
	$(BIN)/edge-digits train --arch edge --epochs 2 --out $(DEMO)
	$(BIN)/edge-digits convert --model $(DEMO)/model.keras --precision float32 --precision int8 --out $(DEMO)
	$(BIN)/edge-digits classify examples/ --model $(DEMO)/model_int8.tflite
	$(BIN)/edge-digits camera --source examples/camera_7_2_1.avi --model $(DEMO)/model_int8.tflite

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

pytest-legacy: install-legacy
	EDGE_DIGITS_BACKEND=tflite-runtime $(BIN_LEGACY)/pytest -m "not train" -p no:cacheprovider

# The runtime on an emulated Raspberry Pi (aarch64, Debian 12 as Raspberry Pi OS Bookworm):
# installed as the README says, the `pi` tests as a Pi 4 and a Pi 5, answers equal to x86's,
# native libraries that fail to load. Needs root; PI_TEST=skip skips it (saying so).
pi-test: install
	VENV_BIN=$(CURDIR)/$(BIN) bash pi/pi-test.sh

test: lint typecheck pytest pytest-legacy pi-test

# Rebuild the embedded default model (runtime/models/edge_int8.tflite) from scratch.
default-model: install
	$(BIN)/python -m edge_digits.train.default_model
	# Its Keras source, kept with train for `edge-digits train --from default` (never in the
	# runtime package); renamed into place, so an interrupted copy leaves no half file.
	mkdir -p train/default
	cp runs/default/model.keras train/default/.model.keras.tmp
	mv train/default/.model.keras.tmp train/default/model.keras

# The workstation benchmark suite -> benchmarks/results/*.json, benchmarks/RESULTS.md and a
# plot. Builds the default model's Keras source and the seed models first when missing.
# `make bench BENCH_FLAGS=--quick` is a short smoke run (results in runs/bench/quick-results).
bench: install
	test -f runs/default/model.keras || $(MAKE) default-model
	$(BIN)/python benchmarks/suite.py $(BENCH_FLAGS)

# Coverage-guided fuzzing (atheris; README.md, "Bad input") of the image loader, and of the model
# loader on both interpreters; each run stops after FUZZ_TIME seconds. Crashing inputs are
# written to runs/fuzz/<target>/crash-*, the growing corpus to runs/fuzz/<target>/corpus/.
FUZZ_TIME ?= 60
fuzz: $(VENV)/.fuzz-installed $(VENV_LEGACY)/.fuzz-installed
	$(BIN)/python fuzz/fuzz_image.py -max_total_time=$(FUZZ_TIME)
	$(BIN)/python fuzz/fuzz_model.py -max_total_time=$(FUZZ_TIME)
	EDGE_DIGITS_BACKEND=tflite-runtime $(BIN_LEGACY)/python fuzz/fuzz_model.py \
		-max_total_time=$(FUZZ_TIME)
$(VENV)/.fuzz-installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[fuzz]'
	touch $@
$(VENV_LEGACY)/.fuzz-installed: $(VENV_LEGACY)/.installed
	$(BIN_LEGACY)/python -m pip install --quiet 'atheris>=2.3'
	touch $@

clean:
	rm -rf $(VENV) $(VENV_LEGACY) .pi-test runs build *.egg-info .pytest_cache .mypy_cache .ruff_cache
