"""Caffe through the CLI and the API: formats, the conversion path, inspect, convert with --weights,
exit codes 2 and 3, and --localize naming the Caffe layer where ONNX leaves OpenCV."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bridge
from bridge.pipeline import plan
from tests.conftest import run_bridge
from tests.converters.caffe_onnx.caffe_files import write_net

pytest.importorskip("cv2")

NET = ('name: "tiny"\ninput: "data"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'
       'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 4 kernel_size: 3 } }\n'
       'layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }\n'
       'layer { name: "norm1" type: "LRN" bottom: "conv1" top: "norm1" lrn_param { local_size: 3 alpha: 0.5 k: K } }\n'
       'layer { name: "pool1" type: "Pooling" bottom: "norm1" top: "pool1" pooling_param { pool: AVE kernel_size: 2 stride: 2 } }\n')
rng = np.random.default_rng(3)
BLOBS = {"conv1": [rng.standard_normal((4, 3, 3, 3)).astype(np.float32), rng.standard_normal(4).astype(np.float32)]}


def test_formats_and_the_path_to_tflite():
    result = run_bridge("formats")
    assert result.returncode == 0
    assert "caffe" in result.stdout and " caffe -> onnx     bridge caffe_onnx" in result.stdout
    assert [(e.source, e.target) for e in plan("caffe", ["tflite"])] == [("caffe", "onnx"), ("onnx", "tf"), ("tf", "tflite")]


def test_inspect_shows_inputs_layers_and_parameters(tmp_path):
    text, _ = write_net(tmp_path, NET.replace("K", "1"))
    result = run_bridge("inspect", str(text))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "(caffe, layer form)" in out and "  data: 1x3x8x8 float32" in out and "  pool1: 1x4x3x3" in out
    assert "parameters: 112" in out and "ops (4 layers):" in out
    assert "  Convolution              1" in out and "  LRN                      1" in out


def test_convert_with_weights_reports_against_caffe(tmp_path):
    text, weights = write_net(tmp_path, NET.replace("K", "1"), BLOBS)
    report = tmp_path / "report.json"
    result = run_bridge("convert", str(text), "--weights", str(weights), "--to", "onnx", "--out", str(tmp_path / "out"),
                        "--report", str(report), "--quiet")
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    assert data["source"] == {"path": str(text), "format": "caffe"} and data["passed"]
    (stage,) = data["parity"]
    assert stage["reference"] == "caffe" and stage["outputs"][0]["name"] == "pool1"
    assert stage["outputs"][0]["max_abs"] < 1e-5 and stage["outputs"][0]["rule"] == "fixed"


def test_bad_weights_exit_2_and_unsupported_layers_exit_3(tmp_path):
    text, _ = write_net(tmp_path, NET.replace("K", "1"), {"conv1": BLOBS["conv1"][:1]})
    out = tmp_path / "out"
    result = run_bridge("convert", str(text), "--weights", str(tmp_path / "deploy.caffemodel"), "--to", "onnx",
                        "--out", str(out), "--quiet")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: layer 'conv1' (Convolution) has 1 blob(s) in {tmp_path / 'deploy.caffemodel'}; "
        "the prototxt makes 2 (4x3x3x3, 4)"]
    assert not out.exists()
    text, _ = write_net(tmp_path / "u", NET.replace("K", "1") + 'layer { name: "s" type: "SPP" bottom: "pool1" top: "s" }\n'
                        'layer { name: "t" type: "Tile" bottom: "s" top: "t" }\nlayer { name: "t2" type: "Tile" bottom: "t" top: "t2" }\n')
    result = run_bridge("convert", str(text), "--to", "onnx", "--out", str(out), "--quiet")
    assert result.returncode == 3 and "unsupported Caffe layer types: SPP x1, Tile x2" in result.stderr
    result = run_bridge("convert", str(text), "--weights", str(tmp_path / "w.safetensors"), "--to", "onnx", "--out", str(out))
    assert result.returncode == 2 and "no such weights file" in result.stderr


def test_localize_names_the_caffe_layer_where_onnx_diverges(tmp_path):
    # OpenCV's LRN ignores Caffe's k; the ONNX model honours it: the first divergence is at norm1.
    text, weights = write_net(tmp_path, NET.replace("K", "2"), BLOBS)
    result = bridge.convert(str(text), to="onnx", out_dir=tmp_path / "out", weights=weights, localize=True)
    assert not result.passed and result.exit_code == 1
    (loc,) = result.localization
    assert (loc.layer, loc.op_type, loc.output, loc.reference) == ("norm1", "LRN", "norm1", "opencv-dnn")
    assert loc.checked == 3  # conv1 (before its in-place ReLU), relu1, norm1
    assert "first divergence at node 'norm1' (LRN) (Caffe layer norm1)" in loc.describe()
