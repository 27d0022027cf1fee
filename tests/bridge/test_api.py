"""The Python API end to end on real frameworks."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import bridge
from bridge.errors import UnsupportedError
from tests.conftest import FIXTURES

pytestmark = pytest.mark.slow


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(6, 4)

    def forward(self, x):
        return torch.relu(self.fc(x))


def test_convert_live_module_with_sequence_inputs(tmp_path):
    x = torch.randn(3, 6)
    result = bridge.convert(Tiny(), to=["onnx", "tf"], out_dir=tmp_path / "out", inputs=[x])
    assert result.passed and result.exit_code == 0
    assert [a.format for a in result.artifacts] == ["onnx", "tf"]
    assert all(a.path.exists() for a in result.artifacts)
    data = result.to_json()
    assert data["passed"] is True and data["source"]["format"] == "torch"
    assert all(o["max_abs"] <= 1e-5 for p in data["parity"] for o in p["outputs"])
    json.dumps(data)


def test_convert_with_dict_inputs_and_npz(tmp_path):
    x = np.random.default_rng(0).standard_normal((2, 6)).astype(np.float32)
    r1 = bridge.convert(Tiny(), to="onnx", out_dir=tmp_path / "a", inputs={"x": x})
    np.savez(tmp_path / "in.npz", x=x)
    r2 = bridge.convert(Tiny(), to="onnx", out_dir=tmp_path / "b", inputs=tmp_path / "in.npz")
    assert r1.passed and r2.passed
    assert r1.inputs["x"].shape == r2.inputs["x"].shape == (2, 6)


def test_broken_artifact_fails_parity(tmp_path):
    """A check that cannot fail is a defect: change the ONNX weights and verify must catch it."""
    import onnx
    from onnx import numpy_helper

    result = bridge.convert(f"{FIXTURES / 'seed_mlp.py'}:SeedMLP", to="onnx", out_dir=tmp_path)
    path = result.artifacts[0].path
    model = onnx.load(path)
    init = max(model.graph.initializer, key=lambda t: np.prod(t.dims))
    w = numpy_helper.to_array(init).copy()
    w[0] += 0.5
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(model, path)
    checked = bridge.verify([path], f"{FIXTURES / 'seed_mlp.py'}:SeedMLP")
    assert not checked.passed and checked.exit_code == 1
    assert checked.parity[0].outputs[0].max_abs > 1e-3
    assert checked.first_failure["format"] == "onnx"


def test_two_io_names_survive_into_the_savedmodel_signature(tmp_path):
    result = bridge.convert(f"{FIXTURES / 'two_io.py'}:make_two_io", to="tf", out_dir=tmp_path)
    assert result.passed, result.to_json()
    saved = next(a.path for a in result.artifacts if a.format == "tf")
    # Plain TensorFlow, with bridge made unimportable, loads it and sees the names.
    code = (
        "import sys; sys.modules['bridge'] = None; sys.modules['bridge_converters'] = None\n"
        "import tensorflow as tf\n"
        f"m = tf.saved_model.load({str(saved)!r})\n"
        "fn = m.signatures['serving_default']\n"
        "print(sorted(fn.structured_input_signature[1]))\n"
        "print(sorted(fn.structured_outputs))\n"
        "out = fn(image=tf.zeros([2, 16]), text=tf.zeros([2, 12]))\n"
        "print(out['joint'].shape)\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[-3] == "['image', 'text']"
    assert lines[-2] == "['joint', 'similarity']"
    assert lines[-1] == "(2, 16)"


def test_small_cnn_round_trip(tmp_path):
    result = bridge.convert("fixtures.models.small_cnn:SmallCNN", to="tf", out_dir=tmp_path)
    assert result.passed, result.to_json()["parity"]
    assert all(o.max_abs <= 1e-5 for p in result.parity for o in p.outputs)


def test_first_failure_names_the_hop_where_parity_breaks(tmp_path):
    """A deliberately broken TF handler: ONNX still matches torch, TF breaks against ONNX, TFLite inherits it."""
    import tensorflow as tf

    from bridge_converters.onnx_tf.registry import OPS

    key = max((k for k in OPS.keys() if k.op_type == "Relu"), key=lambda k: k.since)
    original = OPS._handlers[key]
    OPS._handlers[key] = lambda ctx: tf.nn.relu(ctx.inputs[0]) + 0.01
    try:
        result = bridge.convert(f"{FIXTURES / 'seed_mlp.py'}:SeedMLP", to="tflite", out_dir=tmp_path)
    finally:
        OPS._handlers[key] = original
    assert not result.passed
    assert result.first_failure["format"] == "tf" and result.first_failure["reference"] == "onnx"
    passed = {(p.format, p.reference): p.passed for p in result.parity}
    assert passed[("onnx", "torch")] and not passed[("tf", "onnx")] and passed[("tflite", "tf")]
    # the automatic localisation names the Relu node
    tf_loc = [loc for loc in result.localization if loc.candidate == "tensorflow"]
    assert tf_loc and tf_loc[0].op_type == "Relu"


def _conv_model(path, shape):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rank = len(shape)
    weights = numpy_helper.from_array(np.ones((2, shape[1], *[3] * (rank - 2)), np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                             [1, 2, *[f"o{i}" for i in range(rank - 2)]])], [weights])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_a_conversion_failing_on_dims_sized_1_for_want_of_a_shape_names_them_and_input_shape(tmp_path):
    """A 3-tap conv over a dynamic length cannot run at the length 1 generated inputs get: the error names
    the dims that were guessed and the option that fixes them."""
    path = _conv_model(tmp_path / "m.onnx", [1, 5, "T"])
    with pytest.raises(UnsupportedError, match=r"x\[2\]=T \(1\) were sized for want of a shape: pass --input-shape"):
        bridge.convert(path, to="tf", out_dir=tmp_path / "a", quiet=True)
    assert bridge.convert(path, to="tf", out_dir=tmp_path / "b", input_shapes=["x:1x5x8"], quiet=True).passed


def test_an_image_input_with_dynamic_height_and_width_gets_an_image_size(tmp_path):
    """A detector exported with dynamic H and W (NudeNet's YOLOv8) cannot run at 1x1: an image input's
    dynamic height and width get 224 (or the size in the model's metadata), and the run says so."""
    result = bridge.convert(_conv_model(tmp_path / "m.onnx", [1, 3, "height", "width"]), to="tf",
                            out_dir=tmp_path / "a", quiet=True)
    assert result.passed and result.inputs["x"].shape == (1, 3, 224, 224)
    assert any("image input 'x' 1x3x224x224, from an image input's usual size" in w for w in result.warnings)
    given = bridge.convert(tmp_path / "m.onnx", to="tf", out_dir=tmp_path / "b", input_shapes=["x:1x3x8x8"],
                           quiet=True)
    assert given.passed and not any("image input" in w for w in given.warnings)


def test_parity_failing_on_dims_sized_1_for_want_of_a_shape_says_so(tmp_path):
    """atspm-detector's pair net pools a time axis T by 2: at T=1 the pool has no window (ONNX: length 0, so
    TF's mean is NaN) while ONNX Runtime pools one. The run says the size was guessed, and T=8 passes."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[2], strides=[2]),
             helper.make_node("ReduceMean", ["p"], ["y"], axes=[2], keepdims=0)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "T"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "m.onnx"))
    guessed = bridge.convert(tmp_path / "m.onnx", to="tf", out_dir=tmp_path / "a", quiet=True)
    assert not guessed.passed
    assert any(w.startswith("parity failed where the dynamic input dimensions x[2]=T (1) were sized")
               for w in guessed.warnings), guessed.warnings
    sized = bridge.convert(tmp_path / "m.onnx", to="tf", out_dir=tmp_path / "b", input_shapes=["x:1x3x8"], quiet=True)
    assert sized.passed and not any("parity failed" in w for w in sized.warnings)
