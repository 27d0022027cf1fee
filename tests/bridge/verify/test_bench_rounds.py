"""The deployment-true bench: each artifact alone in its own process, the same threads, alternating rounds,
ratios as medians of per-round ratios; failures reported per entry."""

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import bridge
from bridge.runtimes import load_runner
from bridge.verify.bench_rounds import _Worker, ratios_to_onnxruntime
from bridge.artifacts import open_artifact
from tests.conftest import run_bridge


def write_dense_onnx(path, scale: float = 1.0, width: int = 64):
    """y = relu((x @ W) * scale): a one-layer model whose activation scale is set by ``scale``."""
    w = (np.random.default_rng(0).standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Mul", ["h", "s"], ["m"]),
         helper.make_node("Relu", ["m"], ["y"])],
        "dense", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, width])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array(scale, np.float32), "s")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_each_artifact_is_timed_in_its_own_process_in_rounds(tmp_path):
    path = write_dense_onnx(tmp_path / "dense.onnx")
    result = bridge.bench([path], runs=10, rounds=5, threads=[1])
    (entry,) = result.bench
    assert entry["isolation"] == "subprocess" and entry["threads"] == 1
    assert entry["runs"] == 10 and entry["rounds"] == 5 and len(entry["round_p50_ms"]) == 5
    assert all(p > 0 for p in entry["round_p50_ms"]) and entry["p50_ms"] > 0
    assert entry["p50_vs_onnxruntime"] == 1.0 and entry["p50_vs_onnxruntime_rounds"] == [1.0] * 5
    assert result.harness_overhead_ms is not None and result.harness_overhead_ms >= 0

    worker = _Worker(open_artifact(path), "cpu", 1, isolate=True)
    try:
        worker.start()
        worker.finish_start()
        assert worker.proc.pid != os.getpid() and not worker.error and worker.runtime == "onnxruntime"
    finally:
        worker.close()
    assert worker.proc.returncode == 0  # closed on request, not killed


def test_in_process_bench_turns_onnxruntime_spinning_off(tmp_path):
    path = write_dense_onnx(tmp_path / "dense.onnx")
    runner = load_runner(open_artifact(path), threads=1, spin=False)
    options = runner.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == 1
    result = bridge.bench([path], runs=6, rounds=3, threads=[1], isolate=False)
    assert result.bench[0]["isolation"] == "in-process" and result.bench[0]["rounds"] == 3


def test_a_target_that_cannot_load_is_an_error_entry_and_the_others_still_run(tmp_path):
    good = write_dense_onnx(tmp_path / "dense.onnx")
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"not a flatbuffer")
    result = bridge.bench([good, bad], runs=4, rounds=2, threads=[1])
    by_format = {b["format"]: b for b in result.bench}
    assert by_format["onnx"]["runs"] == 4 and "error" not in by_format["onnx"]
    assert "LiteRT cannot load" in by_format["tflite"]["error"]
    assert "p50_vs_onnxruntime" not in by_format["tflite"]


def test_ratio_is_the_median_of_per_round_ratios():
    def entry(runtime, rounds):
        return {"runtime": runtime, "device": "cpu", "batch": 1, "threads": 2, "p50_ms": float(np.median(rounds)),
                "round_p50_ms": rounds}

    ort, tf = entry("onnxruntime", [1.0, 2.0, 1.0, 4.0, 1.0]), entry("tensorflow", [2.0, 2.0, 3.0, 8.0, 2.0])
    other_threads = {**entry("tensorflow", [5.0]), "threads": 4}
    unrounded = {"runtime": "tflite", "device": "cpu", "batch": 1, "threads": 2, "p50_ms": 3.0}
    bench = [ort, tf, other_threads, unrounded]
    ratios_to_onnxruntime(bench)
    # per round: 2, 1, 3, 2, 2 -> median 2 (the ratio of the p50s would be 2 / 1 = 2 too; the spread shows)
    assert tf["p50_vs_onnxruntime_rounds"] == [2.0, 1.0, 3.0, 2.0, 2.0] and tf["p50_vs_onnxruntime"] == 2.0
    assert "p50_vs_onnxruntime" not in other_threads  # no ONNX Runtime at 4 threads in this run
    assert unrounded["p50_vs_onnxruntime"] == 3.0 and "p50_vs_onnxruntime_rounds" not in unrounded
    assert ort["p50_vs_onnxruntime"] == 1.0


@pytest.mark.slow
def test_convert_bench_times_the_torch_source_here_and_artifacts_alone(tmp_path):
    result = bridge.convert("fixtures/models/seed_mlp.py:SeedMLP", to="onnx", out_dir=tmp_path,
                            bench_batches=[None], threads=[1], bench_rounds=3)
    by_format = {b["format"]: b for b in result.bench}
    assert by_format["torch"]["isolation"] == "in-process" and by_format["onnx"]["isolation"] == "subprocess"
    for entry in by_format.values():
        assert entry["threads"] == 1 and entry["rounds"] == 3 and entry["runs"] >= 10
    assert len(by_format["torch"]["p50_vs_onnxruntime_rounds"]) == 3
    assert "bench_warnings" not in result.to_json()  # SeedMLP's activations are at a healthy scale


def test_cli_bench_prints_rounds_and_warns_on_denormal_activations(tmp_path):
    path = write_dense_onnx(tmp_path / "tiny.onnx", scale=1e-30)
    proc = run_bridge("bench", str(path), "--runs", "4", "--rounds", "2", "--threads", "1",
                      "--report", str(tmp_path / "r.json"))
    assert proc.returncode == 0, proc.stderr
    assert "latency" in proc.stdout and "1.00x" in proc.stdout
    assert "warning: activations near the denormal range in 2 of 3 tensors (e.g. 'm'" in proc.stderr, proc.stderr
    import json

    report = json.loads((tmp_path / "r.json").read_text())
    assert report["bench"][0]["rounds"] == 2 and len(report["bench_warnings"]) == 1
    bad = run_bridge("bench", str(path), "--threads", "0")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
