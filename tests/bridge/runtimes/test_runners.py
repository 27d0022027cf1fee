"""Every runtime behind one interface: TFLite, torch.export, TorchScript, AOTInductor; feed validation; devices."""

import numpy as np
import pytest

import bridge
from bridge.errors import UsageError
from bridge.model import InputSpec
from bridge.runtimes import load_runner
from bridge.runtimes.base import validate_feeds

CNN = "fixtures.models.small_cnn:SmallCNN"


def test_feed_validation_names_what_was_expected():
    specs = [InputSpec("x", (None, 3), "float32")]
    validate_feeds(specs, {"x": np.zeros((5, 3), np.float32)}, "rt")
    with pytest.raises(UsageError, match=r"missing \['x'\]"):
        validate_feeds(specs, {"y": np.zeros((5, 3), np.float32)}, "rt")
    with pytest.raises(UsageError, match="dtype float64; expected float32"):
        validate_feeds(specs, {"x": np.zeros((5, 3))}, "rt")
    with pytest.raises(UsageError, match=r"shape \[5, 4\]; expected \?x3"):
        validate_feeds(specs, {"x": np.zeros((5, 4), np.float32)}, "rt")


def test_cuda_without_a_gpu_is_refused_not_run_on_cpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(UsageError, match="--device cuda"):
        bridge.convert(CNN, to="onnx", out_dir=tmp_path, device="cuda")
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_tflite_pt2_torchscript_round_trip_and_chain(tmp_path):
    result = bridge.convert(CNN, to=["tflite", "pt2", "torchscript"], out_dir=tmp_path)
    assert result.passed, result.to_json()["parity"]
    formats = {(p.format, p.reference) for p in result.parity}
    # each against the source, and tf against onnx, tflite against tf
    assert {("tflite", "torch"), ("tf", "onnx"), ("tflite", "tf"), ("pt2", "torch"), ("torchscript", "torch")} <= formats
    assert result.first_failure is None
    by_format = {a.format: a for a in result.artifacts}
    runner = load_runner(bridge.verify([by_format["tflite"].path], CNN).artifacts[0])
    assert runner.runtime == "tflite" and runner.output_names  # opened from disk without metadata
    checked = bridge.verify([by_format["pt2"].path, by_format["torchscript"].path, by_format["tflite"].path], CNN)
    assert checked.passed and [p.runtime for p in checked.parity] == ["torch.export", "torchscript", "tflite"]


@pytest.mark.slow
def test_aoti_package_runs_and_matches(tmp_path):
    result = bridge.convert("fixtures/models/seed_mlp.py:SeedMLP", to="aoti", out_dir=tmp_path)
    assert result.passed and result.parity[0].runtime == "aotinductor"
    assert result.parity[0].outputs[0].max_abs <= 1e-5


@pytest.mark.slow
def test_bench_reports_percentiles_per_batch_and_overhead(tmp_path):
    result = bridge.convert("fixtures/models/seed_mlp.py:SeedMLP", to="onnx", out_dir=tmp_path,
                            dynamic={"x": {0: "batch"}}, verify=False)
    bench = bridge.bench([result.artifacts[0].path], batches=[1, 8], runs=30)
    rows = {(b["format"], b["batch"]): b for b in bench.bench}
    assert set(rows) == {("onnx", 1), ("onnx", 8)}
    for row in rows.values():
        assert row["runs"] == 30 and 0 < row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
        assert row["throughput_per_s"] > 0
    assert bench.harness_overhead_ms is not None and bench.harness_overhead_ms >= 0
    assert all(row["p50_vs_onnxruntime"] == 1.0 for row in rows.values())  # ONNX Runtime against itself


@pytest.mark.slow
def test_several_shapes_in_one_run(tmp_path):
    result = bridge.convert("fixtures/models/seed_mlp.py:SeedMLP", to="tf", out_dir=tmp_path,
                            shapes="x:1x1x28x28;x:6x1x28x28")
    assert result.passed
    labels = {p.inputs for p in result.parity}
    assert labels == {"x:1x1x28x28", "x:6x1x28x28"}
