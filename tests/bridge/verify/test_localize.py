"""Localisation names the node that was made to differ on purpose, not its neighbours."""

import contextlib

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from bridge.verify.localize import localize_tf, module_path
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
