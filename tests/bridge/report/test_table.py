"""The terminal parity table."""

import numpy as np
from rich.console import Console

from bridge.report.table import parity_table
from bridge.verify.compare import StageParity, Tolerances, compare_outputs
from bridge.verify.run_time_quant import judge_run_time_quantized


def test_an_output_judged_by_snr_shows_its_snr_and_cosine_not_tolerances():
    rng = np.random.default_rng(0)
    ref = {"logits": rng.standard_normal((8, 50)).astype(np.float32)}
    cand = {"logits": ref["logits"] + 0.01 * rng.standard_normal((8, 50)).astype(np.float32)}
    outputs = compare_outputs(ref, cand)
    judge_run_time_quantized(outputs, ref, cand, Tolerances())
    console = Console(record=True, width=200)
    console.print(parity_table([StageParity("tf", "tensorflow", "cpu", "onnx", outputs)]))
    row = next(line for line in console.export_text().splitlines() if "logits" in line)
    assert f"SNR {outputs[0].snr_db:.1f} dB >= 20" in row and "cosine 0.99" in row, row
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells[7:9] == ["-", "-"], cells  # atol and rtol did not judge it


def test_nan_where_the_reference_is_finite_says_so_beside_fail():
    """max_abs counts finite elements only, so a NaN output would otherwise read 'max_abs 0 FAIL'."""
    ref = {"s": np.array([1.5, 2.0], np.float32)}
    outputs = compare_outputs(ref, {"s": np.array([np.nan, 2.0], np.float32)})
    console = Console(record=True, width=200)
    console.print(parity_table([StageParity("tf", "tensorflow", "cpu", "onnx", outputs)]))
    row = next(line for line in console.export_text().splitlines() if " s " in line)
    assert "FAIL 1 NaN/inf not matched by the other side" in row, row
