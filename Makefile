# Every install step lives here: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.bridge-installed
PYTEST_ARGS ?=

.PHONY: install demo test test-fast conformance bench bench-quantized fuzz clean

$(STAMP): pyproject.toml setup.py Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned to the CPU build on this machine's disk; the project asks only torch>=2.13.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[tf-cpu,caffe,sklearn,test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/bridge convert fixtures/models/seed_mlp.py:SeedMLP --to onnx,tf --out demo-out --force --report demo-out/report.json

test: install
	$(PY) -m pytest -n 2 -q $(PYTEST_ARGS)

# Skips the slow model-level tests; CI runs everything through `make test`.
test-fast: install
	$(PY) -m pytest -n 2 -q -m "not slow" $(PYTEST_ARGS)

conformance: install
	$(PY) -m tools.conformance --json conformance.json

clean:
	rm -rf demo-out .pytest_cache build *.egg-info

bench: install
	$(PY) -m benchmarks.convert_speed --json benchmarks/results.json

# At least 10,000 mutated and generated ONNX models through load, convert and (a share) verify; only
# BridgeErrors may escape and every case has a time bound. Prints "N cases, M crashes"; fails on any crash.
fuzz: install
	$(PY) -m tools.fuzz --cases 10000 --seed 0 --timeout-s 60 --jobs 2 --save-dir fuzz-crashes

# Quantized TFLite rows (fp16, int8 ResNet-50 against float32 TFLite, measured in one run); the int8 target
# is p50 <= 0.6x float32's. Separate from `bench` until the reworked bench machinery takes these rows.
bench-quantized: install
	$(PY) -m benchmarks.quantized --json benchmarks/quantized.json
