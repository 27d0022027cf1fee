"""A short fixed-seed fuzz run: damaged and random ONNX through load and convert, 0 crashes."""

import subprocess
import sys

import numpy as np

from tools._fuzz_gen import mutate_bytes, random_model
from tools.fuzz import make_case
from tests.conftest import ROOT


def test_cases_are_reproducible():
    assert make_case(3, 17, 0.5) == make_case(3, 17, 0.5)
    kinds = {make_case(0, i)[0] for i in range(40)}
    assert kinds == {"graph", "semantic", "bytes"}


def test_generator_makes_mostly_valid_graphs_when_asked():
    from bridge.errors import UsageError
    from bridge.onnx_validate import check_model_semantics

    valid = 0
    for i in range(40):
        try:
            check_model_semantics(random_model(np.random.default_rng([5, i]), invalid=False))
            valid += 1
        except UsageError:
            pass
    assert valid >= 30
    assert mutate_bytes(np.random.default_rng(0), b"abc" * 10, b"") != b"abc" * 10


def test_fixed_seed_fuzz_run_finds_no_crashes(tmp_path):
    # Verification (SavedModel + ONNX Runtime + TF per case) is the slow part; `make fuzz` covers it.
    result = subprocess.run(
        [sys.executable, "-m", "tools.fuzz", "--cases", "300", "--seed", "20261127", "--jobs", "2",
         "--timeout-s", "60", "--verify-rate", "0", "--save-dir", str(tmp_path / "crashes")],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    last = result.stdout.strip().splitlines()[-1]
    assert last == "300 cases, 0 crashes", result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0
