"""Localisation names the node that was made to differ on purpose, not its neighbours."""

import contextlib

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from bridge.verify.localize import cpu_has_vnni, localize_tf, module_path
from bridge_converters.onnx_tf.registry import OPS, OpKey


@contextlib.contextmanager
def broken_handler(op_type: str, since: int, fn):
    key = OpKey("", op_type, since)
    original = OPS._handlers[key]
    OPS._handlers[key] = fn
    try:
        yield
    finally:
        OPS._handlers[key] = original


def _model(path):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 16)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="proj"),
        helper.make_node("Tanh", ["h"], ["t"], name="squash"),
        helper.make_node("Relu", ["t"], ["y"], name="gate"),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 16])],
                              initializer=[numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]), path)


def test_localisation_names_the_broken_node(tmp_path):
    import tensorflow as tf

    path = tmp_path / "m.onnx"
    _model(path)
    feeds = {"x": np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)}
    clean = localize_tf(path, feeds)
    assert clean.node == "" and clean.checked == 3
    tanh_since = max(k.since for k in OPS.keys() if k.op_type == "Tanh")
    with broken_handler("Tanh", tanh_since, lambda ctx: tf.math.tanh(ctx.inputs[0]) * 1.05):
        found = localize_tf(path, feeds)
    assert (found.node, found.op_type, found.output) == ("squash", "Tanh", "t")
    assert found.max_abs > 1e-3
    assert found.inputs == [{"name": "h", "max_abs": pytest.approx(0.0, abs=1e-5)}]


def test_localisation_names_a_shape_that_differs(tmp_path):
    """An output of another shape has no max_abs to speak of: the description gives both shapes."""
    import tensorflow as tf

    path = tmp_path / "m.onnx"
    _model(path)
    feeds = {"x": np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)}
    tanh_since = max(k.since for k in OPS.keys() if k.op_type == "Tanh")
    with broken_handler("Tanh", tanh_since, lambda ctx: tf.math.tanh(ctx.inputs[0])[:, :15]):
        found = localize_tf(path, feeds)
    assert (found.node, found.problem) == ("squash", "shape [2, 15] != reference [2, 16]")
    assert "output 't' shape [2, 15] != reference [2, 16]; its inputs' max_abs: h " in found.describe()


def test_module_path_from_exporter_metadata_and_node_names():
    node = helper.make_node("Gemm", ["a"], ["b"], name="node_linear")
    entry = node.metadata_props.add()
    entry.key, entry.value = "pkg.torch.onnx.name_scopes", "['', 'inner', 'inner.net', 'inner.net.1', 'linear']"
    assert module_path(node) == "net.1"
    legacy = helper.make_node("Gemm", ["a"], ["b"], name="/inner/encoder/layer.0/Gemm")
    assert module_path(legacy) == "layer.0"


@pytest.mark.slow
def test_onnx_against_torch_names_the_module_whose_weights_were_changed(tmp_path):
    import bridge
    from bridge.verify.localize import localize_onnx
    from fixtures.models.seed_mlp import SeedMLP

    module = SeedMLP()
    result = bridge.convert(module, to="onnx", out_dir=tmp_path, verify=False)
    path = result.artifacts[0].path
    model = onnx.load(path)
    # the second Linear's weight is the 10x128 initializer
    init = next(t for t in model.graph.initializer if list(t.dims) == [10, 128])
    w = numpy_helper.to_array(init).copy()
    w[:, :5] += 0.5
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(model, path)
    found = localize_onnx(module, path, result.inputs)
    assert found.module == "net.3" and found.op_type == "Gemm"
    assert found.checked >= 3  # net.0 (flatten), net.1, net.2 passed first


def test_integer_product_hint_names_ort_saturation_only_without_vnni(monkeypatch):
    from bridge.verify import localize

    monkeypatch.setattr(localize, "cpu_has_vnni", lambda: False)
    hint = localize.ort_saturation_hint("QLinearConv", np.uint8)
    assert "saturating int16" in hint and "reduce_range=True" in hint
    assert localize.ort_saturation_hint("QLinearConv", np.int8) == localize.ort_saturation_hint("Conv", np.uint8) == ""
    monkeypatch.setattr(localize, "cpu_has_vnni", lambda: True)
    assert localize.ort_saturation_hint("QLinearMatMul", np.uint8) == ""


def _saturating_qlinear_conv(path):
    """255 x 127 + 255 x 127 overflows int16: exact in ONNX, saturated by ORT's kernels without VNNI."""
    scalar = lambda name, value, dtype: numpy_helper.from_array(np.array(value, dtype), name)  # noqa: E731
    weights = numpy_helper.from_array(np.full((1, 16, 1, 1), 127, np.int8), "w")
    inits = [scalar("xs", 1.0, np.float32), scalar("xz", 0, np.uint8), weights, scalar("ws", 1.0, np.float32),
             scalar("wz", 0, np.int8), scalar("ys", 4096.0, np.float32), scalar("yz", 0, np.uint8)]
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"])
    graph = helper.make_graph([node], "q", [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 16, 2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, 1, 2, 2])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))


@pytest.mark.skipif(cpu_has_vnni(), reason="ONNX Runtime's int8 kernels are exact on a CPU with VNNI")
def test_localisation_at_a_saturating_integer_product_says_ort_is_the_one_off(tmp_path):
    _saturating_qlinear_conv(tmp_path / "q.onnx")
    found = localize_tf(tmp_path / "q.onnx", {"x": np.full((1, 16, 2, 2), 255, np.uint8)})
    assert found.op_type == "QLinearConv" and found.max_abs > 0  # exact 16 x 255 x 127 / 4096 = 126.5
    assert "saturating int16" in found.describe()
