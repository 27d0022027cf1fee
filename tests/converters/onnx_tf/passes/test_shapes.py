"""passes/shapes.py: binding input dims to the feeds, inference through subgraphs, and what the artifact,
the report and ``bridge inspect`` then say about fixed and dynamic dims."""

import numpy as np
import onnx
import onnx.parser
import pytest

from bridge.errors import UsageError
from bridge_converters.onnx_tf.passes.shapes import specialise_shapes

rng = np.random.default_rng(0)

# Symbolic batch, height and width; the If sits on a data-dependent condition, so its body is converted.
CNN = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[N, 3, H, W] x, bool c) => (float[N, 4] y) {
    w = Constant <value = float[4, 3, 3, 3] {%s}> ()
    conv = Conv <pads = [1, 1, 1, 1]> (x, w)
    pooled = ReduceMean <axes = [2, 3], keepdims = 0> (conv)
    y = If (c) <
        then_branch = t () => (float[?, ?] ty) { ty = Relu (pooled) },
        else_branch = e () => (float[?, ?] ey) { ey = Neg (pooled) }
    >
}
""" % ", ".join(f"{v:.3f}" for v in rng.standard_normal(108))


def _cnn(tmp_path):
    path = tmp_path / "cnn.onnx"
    model = onnx.parser.parse_model(CNN)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return model, path


def test_feeds_fix_symbolic_dims_and_dynamic_axes_stay(tmp_path):
    model, _ = _cnn(tmp_path)
    feeds = {"x": np.zeros((2, 3, 8, 10), np.float32), "c": np.array(True)}
    spec = specialise_shapes(model, feeds, {"x": {0: "batch"}})
    x = next(i for i in spec.inputs if i.name == "x")
    assert x.shape == ["N", 3, 8, 10] and x.specialised == [2, 3] and x.dynamic == {0: "N"}
    assert x.fixed == [1, 2, 3]
    dims = spec.model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["N", 3, 8, 10]
    assert spec.value_shapes["conv"] == [None, 4, 8, 10]
    assert spec.value_shapes["ty"] == [None, 4]  # inside the If's then_branch
    assert spec.changed
    assert any("fixed 2 symbolic input dim(s)" in w for w in spec.warnings)
    assert spec.model is model  # bound in place, weights never copied


@pytest.mark.parametrize("shape, fragment", [((2, 3, 8), "has rank 4 in the model"),
                                              ((2, 5, 8, 8), "has size 3 on axis 1")])
def test_feeds_that_contradict_the_model_are_usage_errors(tmp_path, shape, fragment):
    model, _ = _cnn(tmp_path)
    with pytest.raises(UsageError, match=fragment):
        specialise_shapes(model, {"x": np.zeros(shape, np.float32)})


def _signature_shape(savedmodel):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(savedmodel))
    _, kwargs = loaded.signatures["serving_default"].structured_input_signature
    return kwargs["x"].shape.as_list()


@pytest.mark.slow
def test_input_shape_fixes_an_onnx_sources_symbolic_dims_everywhere(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from bridge.api import convert
    from bridge.inspect import inspect_file

    _, path = _cnn(tmp_path)
    out = tmp_path / "out"
    result = convert(str(path), to="tflite", out_dir=out, input_shapes=["x:1x3x16x12", "c:scalar:bool"])
    data = result.to_json()
    assert data["passed"], data["parity"]
    tf_artifact = next(a for a in data["artifacts"] if a["format"] == "tf")
    dims = {d["name"]: d for d in tf_artifact["input_dims"]}
    assert dims["x"]["shape"] == [1, 3, 16, 12] and dims["x"]["specialised_axes"] == [0, 2, 3]
    assert dims["x"]["dynamic_axes"] == {}
    assert any("fixed 3 symbolic input dim(s)" in w for w in data["warnings"])
    assert _signature_shape(out / "cnn_savedmodel") == [1, 3, 16, 12]
    details = Interpreter(model_path=str(out / "cnn.tflite")).get_input_details()
    x = next(d for d in details if "x" in d["name"])
    assert list(x["shape_signature"]) == [1, 3, 16, 12]
    shown = inspect_file(out / "cnn_savedmodel")
    assert "x: 1x3x16x12" in shown and "fixed from the inputs: x[0], x[2], x[3]" in shown
    assert "dynamic: none (every input dim is fixed)" in inspect_file(out / "cnn.tflite")


@pytest.mark.slow
def test_two_shape_sets_keep_the_differing_axes_dynamic_and_verify_both(tmp_path):
    from bridge.api import convert
    from bridge.inspect import inspect_file

    _, path = _cnn(tmp_path)
    out = tmp_path / "out"
    result = convert(str(path), to="tf", out_dir=out, shapes="x:1x3x16x16,c:scalar:bool;x:1x3x24x20,c:scalar:bool")
    data = result.to_json()
    dims = data["artifacts"][0]["input_dims"][0]
    assert dims["shape"] == [1, 3, "H", "W"] and sorted(dims["dynamic_axes"]) == ["2", "3"]
    assert _signature_shape(out / "cnn_savedmodel") == [1, 3, None, None]
    verified = {p["inputs"] for p in data["parity"] if p["format"] == "tf"}
    assert verified == {"x:1x3x16x16;c:scalar", "x:1x3x24x20;c:scalar"}
    assert all(p["passed"] for p in data["parity"])
    assert "dynamic: x[0]=N, x[2]=H, x[3]=W" in inspect_file(path)
