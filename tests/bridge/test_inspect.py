"""bridge inspect on tiny real models of every format it reads."""

import re
from pathlib import Path

import numpy as np
import pytest

from bridge.errors import UsageError
from bridge.inspect import inspect_file, summarize_file
from tests.conftest import run_bridge

W = np.arange(6, dtype=np.float32).reshape(3, 2) / 10
B = np.array([0.5, -0.5], dtype=np.float32)


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "B"], ["z"]),
         helper.make_node("Relu", ["z"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def tf_module():
    from bridge._frameworks import import_tensorflow

    tf = import_tensorflow()

    class Tiny(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(W)
            self.b = tf.Variable(B)

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def __call__(self, x):
            return {"y": tf.nn.relu(tf.matmul(x, self.w) + self.b)}

    return Tiny()


@pytest.fixture(scope="module")
def savedmodel(tf_module, tmp_path_factory) -> Path:
    import tensorflow as tf

    path = tmp_path_factory.mktemp("tf") / "tiny_tf"
    tf.saved_model.save(tf_module, str(path), signatures={"serving_default": tf_module.__call__})
    return path


@pytest.fixture(scope="module")
def tflite_file(tf_module, tmp_path_factory) -> Path:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_concrete_functions([tf_module.__call__.get_concrete_function()], tf_module)
    path = tmp_path_factory.mktemp("tflite") / "tiny.tflite"
    path.write_bytes(converter.convert())
    return path


@pytest.fixture(scope="module")
def pt2_file(tmp_path_factory) -> Path:
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3, 2)
            self.register_buffer("scale", torch.ones(2))

        def forward(self, x, y):
            return torch.relu(self.fc(x)) * self.scale, y + 1

    program = torch.export.export(Tiny(), (torch.randn(4, 3), torch.randn(5)),
                                  dynamic_shapes={"x": {0: torch.export.Dim("batch")}, "y": None})
    path = tmp_path_factory.mktemp("pt2") / "tiny.pt2"
    torch.export.save(program, str(path))
    return path


def _op_count(text: str, op: str) -> int:
    match = re.search(rf"^  {re.escape(op)}\s+(\d+)$", text, re.M)
    assert match, f"{op} not in\n{text}"
    return int(match.group(1))


def test_onnx(onnx_file):
    text = inspect_file(str(onnx_file))
    assert "(onnx, ir_version" in text and "opsets: ai.onnx=17" in text
    assert "  x: Nx3 float32" in text and "  y: Nx2 float32" in text
    assert "parameters: 8" in text and "ops (3 nodes):" in text
    assert _op_count(text, "MatMul") == 1 and _op_count(text, "Relu") == 1


def test_savedmodel(savedmodel):
    text = inspect_file(savedmodel)
    assert "(tf, SavedModel)" in text and "signature: serving_default" in text
    assert "  x: ?x3 float32" in text and "  y: ?x2 float32" in text
    assert "parameters: 8" in text and "variables: 2" in text
    assert _op_count(text, "MatMul") == 1 and _op_count(text, "Relu") == 1 and _op_count(text, "AddV2") == 1
    # The signature's plumbing is expanded, not counted.
    assert "StatefulPartitionedCall" not in text and "Placeholder" not in text


def test_tflite(tflite_file):
    summary = summarize_file(tflite_file)
    assert [(t.name, t.shape, t.dtype) for t in summary.inputs] == [("x", (None, 3), "float32")]
    assert [(t.name, t.shape) for t in summary.outputs] == [("y", (None, 2))]
    assert summary.parameters == 8  # 3x2 weights + 2 biases, whatever op they are folded into
    text = inspect_file(tflite_file)
    assert "(tflite)" in text and "signature: serving_default" in text and "tensors:" in text
    assert _op_count(text, "FULLY_CONNECTED") == 1


def test_pt2(pt2_file):
    text = inspect_file(pt2_file)
    assert "(pt2, torch.export)" in text
    assert re.search(r"^  x: s\d+x3 float32$", text, re.M), text
    assert "  y: 5 float32" in text
    assert "parameters: 8" in text and "buffer elements: 2" in text
    assert _op_count(text, "aten.linear.default") == 1 and _op_count(text, "aten.relu.default") == 1
    summary = summarize_file(pt2_file)
    assert [t.name for t in summary.outputs] == ["mul", "add"]
    assert summary.outputs[1].shape == (5,)


@pytest.mark.parametrize("name, content", [
    ("bad.onnx", b"not a model"), ("bad.tflite", b"not a flatbuffer"), ("bad.pt2", b"not a zip"),
    ("model.ts", b"x"),
])
def test_bad_files_are_one_line_usage_errors(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UsageError) as info:
        inspect_file(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_bad_folder_and_missing_file(tmp_path):
    with pytest.raises(UsageError, match="not a SavedModel"):
        inspect_file(tmp_path)
    (tmp_path / "saved_model.pb").write_bytes(b"garbage")
    with pytest.raises(UsageError, match="cannot load the SavedModel"):
        inspect_file(tmp_path)
    with pytest.raises(UsageError, match="no such file"):
        inspect_file(tmp_path / "nope.onnx")


def test_cli(onnx_file):
    result = run_bridge("inspect", str(onnx_file))
    assert result.returncode == 0, result.stderr
    assert "MatMul" in result.stdout
    bad = run_bridge("inspect", str(onnx_file.parent / "missing.onnx"))
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0


def test_pt2_prefers_the_names_bridge_stored(pt2_file, tmp_path):
    import json

    import torch

    program = torch.export.load(str(pt2_file))
    path = tmp_path / "named.pt2"
    torch.export.save(program, str(path), extra_files={"bridge.json": json.dumps(
        {"inputs": ["image", "mask"], "outputs": ["logits", "mask_plus_one"]})})
    summary = summarize_file(path)
    assert [t.name for t in summary.inputs] == ["image", "mask"]
    assert [t.name for t in summary.outputs] == ["logits", "mask_plus_one"]
