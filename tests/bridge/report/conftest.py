"""A real report dict: parity numbers come from bridge's own comparison on real arrays, then a JSON round trip."""

import json

import numpy as np
import pytest

from bridge.report.json_report import to_jsonable
from bridge.verify.compare import StageParity, compare_output


@pytest.fixture
def report() -> dict:
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((4, 10)).astype(np.float32)
    close = compare_output("logits", ref, ref + (rng.standard_normal(ref.shape) * 1e-6).astype(np.float32), 1e-4, 1e-3)
    off = ref.copy()
    off[1, 3] += 0.5
    off[2] += 3e-4
    far = compare_output("probs<&>", ref, off, 1e-4, 1e-3)
    with_nan = ref.copy()
    with_nan[0, 0] = np.nan
    nan_out = compare_output("nan_out", ref, with_nan, 1e-4, 1e-3)
    ok_stage = StageParity("onnx", "onnxruntime", "cpu", "torch", [close])
    bad_stage = StageParity("tf", "tensorflow", "cpu", "torch", [close, far, nan_out])
    error_stage = StageParity("tflite", "tflite", "cpu", "torch", [], error="RuntimeError: <boom> & \x1b[31mred\nline two")
    data = {
        "bridge_version": "0.1.0",
        "source": {"path": "fixtures/m.py:Net<script>alert(1)</script>", "format": "torch"},
        "inputs": [{"name": "x<in>", "shape": [4, 10], "dtype": "float32"}],
        "artifacts": [
            {"format": "onnx", "path": "/tmp/out/model.onnx", "convert_seconds": 1.23, "converter": "torch.onnx (dynamo)"},
            {"format": "tf", "path": "/tmp/out/model_tf", "convert_seconds": 2.5, "converter": "onnx_tf"},
        ],
        "parity": [ok_stage.to_json(), bad_stage.to_json(), error_stage.to_json()],
        "bench": [
            {"format": fmt, "runtime": rt, "device": "cpu", "batch": b, "threads": 2, "p50_ms": 1.0 * b,
             "p90_ms": 1.1 * b, "p99_ms": 1.3 * b, "mean_ms": 1.05 * b, "throughput_per_s": 990.0 / b, "runs": 100}
            for fmt, rt in (("onnx", "onnxruntime"), ("tf", "tensorflow")) for b in (1, 8)
        ],
        "harness_overhead_ms": 0.02,
        "passed": False,
    }
    # Through JSON, as a report file read back: NaN/inf become strings here.
    return json.loads(json.dumps(to_jsonable(data)))
