"""Fusions before conversion: BatchNormalization folded into the convolution, Pad merged into the Conv."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from bridge_converters.onnx_tf.passes.fuse import fold_batch_norm, merge_pad
from tests.converters.onnx_tf.ops.node_check import run_reference, run_tf

RNG = np.random.default_rng(0)


def _model(nodes, inits, x_shape, opset=17):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _bn_params(c):
    return {"s": RNG.uniform(0.5, 2, c).astype(np.float32), "b": RNG.standard_normal(c).astype(np.float32),
            "m": RNG.standard_normal(c).astype(np.float32), "v": RNG.uniform(0.5, 2, c).astype(np.float32)}


@pytest.mark.parametrize("op, w_shape, group", [("Conv", (6, 3, 3, 3), 1), ("Conv", (6, 1, 3, 3), 3),
                                                ("ConvTranspose", (3, 2, 3, 3), 1), ("ConvTranspose", (3, 2, 3, 3), 3)])
def test_batch_norm_folds_into_the_convolution(op, w_shape, group):
    out_channels = w_shape[0] if op == "Conv" else w_shape[1] * group
    inits = {"w": RNG.standard_normal(w_shape).astype(np.float32), "cb": RNG.standard_normal(out_channels).astype(np.float32),
             **_bn_params(out_channels)}
    nodes = [helper.make_node(op, ["x", "w", "cb"], ["c"], group=group, pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["y"], epsilon=1e-3)]
    model = _model(nodes, inits, [1, 3, 7, 7])
    x = RNG.standard_normal((1, 3, 7, 7)).astype(np.float32)
    want = run_reference(model, {"x": x}, runtime="onnxruntime")[0]
    assert fold_batch_norm(model)
    assert [n.op_type for n in model.graph.node] == [op]
    assert {i.name for i in model.graph.initializer} == set(model.graph.node[0].input[1:])  # old params pruned
    np.testing.assert_allclose(run_reference(model, {"x": x}, runtime="onnxruntime")[0], want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run_tf(model, {"x": x})[0], want, rtol=1e-5, atol=1e-5)


def test_batch_norm_stays_when_the_conv_output_is_read_elsewhere():
    inits = {"w": RNG.standard_normal((3, 3, 1, 1)).astype(np.float32), **_bn_params(3)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"]),
             helper.make_node("Add", ["n", "c"], ["y"])]
    model = _model(nodes, inits, [1, 3, 4, 4])
    assert not fold_batch_norm(model)
    assert len(model.graph.node) == 3


@pytest.mark.parametrize("pads, merged", [([0, 0, 1, 2, 0, 0, 1, 0], True), ([1, 0, 0, 0, 0, 0, 0, 0], False),
                                          ([0, 0, -1, 0, 0, 0, 0, 0], False)])
def test_pad_merges_into_the_conv_only_when_exact(pads, merged):
    inits = {"w": RNG.standard_normal((2, 3, 3, 3)).astype(np.float32), "pads": np.array(pads, np.int64)}
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"]), helper.make_node("Conv", ["p", "w"], ["y"], pads=[1, 0, 0, 1])]
    model = _model(nodes, inits, [1, 3, 6, 6])
    x = RNG.standard_normal((1, 3, 6, 6)).astype(np.float32)
    want = run_reference(model, {"x": x}, runtime="onnxruntime")[0]
    assert merge_pad(model) == merged
    if merged:
        conv = model.graph.node[0]
        assert conv.op_type == "Conv" and list(helper.get_attribute_value(conv.attribute[-1])) == [2, 2, 1, 1]
        assert "pads" not in {i.name for i in model.graph.initializer}
    np.testing.assert_allclose(run_tf(model, {"x": x})[0], want, rtol=1e-5, atol=1e-5)
