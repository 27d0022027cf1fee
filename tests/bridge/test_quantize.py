"""Quantisation settings: modes, calibration files, the TFLite -> ONNX name mapping, and the CLI's refusals."""

from types import SimpleNamespace

import numpy as np
import pytest

from bridge.errors import UsageError
from bridge.quantize import (QuantizeRequest, calibration_batches, load_calibration, match_layers, mode_of,
                             onnx_layers, parse_modes, scope_name, tensor_nodes)
from tests.conftest import FIXTURES, run_bridge


def test_modes_parse_and_unknown_ones_are_refused():
    assert parse_modes("fp16, INT8,fp16") == ["fp16", "int8"]
    assert parse_modes(["dynamic", "int8x16"]) == ["dynamic", "int8x16"]
    assert parse_modes(None) == []
    with pytest.raises(UsageError, match="unknown --quantize mode 'int4'"):
        parse_modes("int8,int4")
    assert mode_of("int8+keep-float") == "int8" and mode_of("") == ""
    request = QuantizeRequest(["fp16", "int8"], keep_float=["conv2"])
    assert request.variants() == ["", "fp16", "int8", "int8+keep-float"]
    assert QuantizeRequest(["fp16"], keep_float=["x"]).variants() == ["", "fp16"]


def test_calibration_from_npz_and_from_a_folder_of_npy_files(tmp_path):
    x = np.arange(5 * 3 * 2, dtype=np.float32).reshape(5, 3, 2)
    np.savez(tmp_path / "cal.npz", x=x)
    assert np.array_equal(load_calibration(tmp_path / "cal.npz", ["x"])["x"], x)
    folder = tmp_path / "parts"
    folder.mkdir()
    np.save(folder / "b.npy", x[2:])
    np.save(folder / "a.npy", x[:2])
    assert np.array_equal(load_calibration(folder, ["x"])["x"], x)  # file-name order
    with pytest.raises(UsageError, match="holds arrays \\['x'\\]; the model's inputs are \\['a', 'b'\\]"):
        load_calibration(tmp_path / "cal.npz", ["a", "b"])
    with pytest.raises(UsageError, match="a .npy file holds one array"):
        load_calibration(folder, ["a", "b"])
    with pytest.raises(UsageError, match="no such file or folder"):
        load_calibration(tmp_path / "missing", ["x"])


def test_calibration_batches_follow_the_model_batch_and_check_shapes():
    feeds = {"x": np.zeros((2, 3, 4), np.float32)}
    samples = {"x": np.arange(5 * 3 * 4, dtype=np.float64).reshape(5, 3, 4)}
    batches = calibration_batches(samples, feeds)
    assert [b["x"].shape for b in batches] == [(2, 3, 4), (2, 3, 4)]  # the fifth sample fills no batch
    assert batches[1]["x"].dtype == np.float32 and batches[1]["x"][0, 0, 0] == 24.0
    with pytest.raises(UsageError, match="array 'x' has samples of shape \\[3, 5\\]; input 'x' takes samples of shape 3x4"):
        calibration_batches({"x": np.zeros((4, 3, 5), np.float32)}, feeds)
    assert len(calibration_batches({"x": np.zeros((4, 3, 5), np.float32)}, feeds, dynamic={"x": {2: "t"}})) == 2
    with pytest.raises(UsageError, match="holds 1 samples; the model takes batches of 2"):
        calibration_batches({"x": np.zeros((1, 3, 4), np.float32)}, feeds)
    with pytest.raises(UsageError, match="is int64; input 'x' takes float32"):
        calibration_batches({"x": np.zeros((2, 3, 4), np.int64)}, feeds)


def _node(name, op_type, scope=None):
    props = [SimpleNamespace(key="pkg.torch.onnx.name_scopes", value=repr(["", scope, name]))] if scope else []
    return SimpleNamespace(name=name, op_type=op_type, output=[name + "_out"], metadata_props=props)


def test_tflite_tensor_names_map_to_the_earliest_onnx_node_and_its_module():
    model = SimpleNamespace(graph=SimpleNamespace(node=[
        _node("node_Conv_1", "Conv", "inner.conv1"), _node("node_relu", "Relu", "inner.act"),
        _node("/inner/net/Gemm", "Gemm"), _node("node_Conv_2", "Conv", "inner.conv2")]))
    layers = onnx_layers(model)
    assert scope_name(SimpleNamespace(name="/inner/net/Gemm", op_type="Gemm")) == "inner/net/Gemm"
    # a fused Conv+BiasAdd+Relu whose Relu carries the next node's scope still belongs to the Conv
    fused = tensor_nodes("node_Conv_2/Relu;node_Conv_1/BiasAdd;node_Conv_1/Conv2D;Const1", layers)
    assert [l.node for l in fused] == ["node_Conv_1", "node_Conv_2"] and fused[0].module == "conv1"
    assert [l.node for l in tensor_nodes("inner/net/Gemm/MatMul;inner/net/Gemm/add", layers)] == ["/inner/net/Gemm"]
    assert [l.node for l in tensor_nodes("node_Conv_1_1/transpose", layers)] == ["node_Conv_1"]  # a reopened scope
    assert tensor_nodes("StatefulPartitionedCall:0", layers) == []
    hits = match_layers(["conv*", "node_relu", "nothing"], layers)
    assert [l.node for l in hits["conv*"]] == ["node_Conv_1", "node_Conv_2"]
    assert [l.node for l in hits["node_relu"]] == ["node_relu"] and hits["nothing"] == []


SEED_MLP = f"{FIXTURES / 'seed_mlp.py'}:SeedMLP"


@pytest.mark.parametrize("args, message", [
    (["--to", "onnx", "--quantize", "int8"], "--quantize makes quantized TFLite artifacts; add tflite to --to"),
    (["--to", "tflite", "--quantize", "int4"], "unknown --quantize mode 'int4'"),
    (["--to", "tflite", "--int8-io"], "--int8-io needs --quantize"),
    (["--to", "tflite", "--quantize", "fp16", "--keep-float", "fc1"], "--keep-float leaves layers of an int8 model"),
    (["--to", "tflite", "--quantize", "int8", "--calibration", "{cal}/names.npz"], "holds arrays ['y']; the model's inputs are ['x']"),
    (["--to", "tflite", "--quantize", "int8", "--calibration", "{cal}/shape.npz"], "array 'x' has samples of shape [5]"),
])
def test_bad_quantize_options_exit_2_with_one_line_and_write_nothing(tmp_path, args, message):
    cal = tmp_path / "cal"
    cal.mkdir()
    np.savez(cal / "names.npz", y=np.zeros((4, 16), np.float32))
    np.savez(cal / "shape.npz", x=np.zeros((4, 5), np.float32))
    out = tmp_path / "out"
    proc = run_bridge("convert", SEED_MLP, "--out", str(out), *[a.format(cal=cal) for a in args])
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["cal"]
