"""The edge-padding pass for MaxPool: the same maxima as -inf padding, in a form int8 can represent."""

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from bridge_converters.onnx_tf.passes.edge_pad_max_pool import edge_pad_max_pools, padded_max_pools


def _pool_model(outputs=("y",), **attrs):
    node = helper.make_node("MaxPool", ["x"], list(outputs), **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 9, 8])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT if o == "y" else TensorProto.INT64,
                                                             None) for o in outputs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _run(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x})[0]


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},  # ResNet's stem
    {"kernel_shape": [3, 2], "strides": [2, 1], "pads": [2, 0, 1, 1], "ceil_mode": 1},
])
def test_edge_padding_gives_the_same_maxima_as_minus_infinity(attrs):
    model = _pool_model(**attrs)
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 8)).astype(np.float32) - 3  # negative: padding matters
    expected = _run(model, x)
    assert padded_max_pools(model) == [0] and edge_pad_max_pools(model)
    assert [n.op_type for n in model.graph.node].count("Concat") == 2 and not padded_max_pools(model)
    assert np.array_equal(_run(model, x), expected)


def test_pools_it_cannot_rewrite_exactly_are_left_alone():
    dilated = _pool_model(kernel_shape=[3, 3], pads=[1, 1, 1, 1], dilations=[2, 2])
    with_indices = _pool_model(outputs=("y", "i"), kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    unpadded = _pool_model(kernel_shape=[2, 2], strides=[2, 2])
    for model in (dilated, with_indices, unpadded):
        assert padded_max_pools(model) == [] and not edge_pad_max_pools(model)
