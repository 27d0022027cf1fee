"""The graph walk: unsupported ops are collected everywhere (subgraphs too), with counts, before any work."""

import onnx
import pytest
from onnx import TensorProto, helper

from bridge.errors import UnsupportedError
from bridge_converters.onnx_tf import build_program, find_unsupported


def _branch(name, op, domain=""):
    return helper.make_graph([helper.make_node(op, ["x"], [f"{name}_y"], domain=domain)], name, [],
                             [helper.make_tensor_value_info(f"{name}_y", TensorProto.FLOAT, [3])])


def test_unsupported_ops_inside_if_bodies_are_listed_with_top_level_ones():
    nodes = [
        helper.make_node("If", ["cond"], ["y"], then_branch=_branch("then", "Mystery", "com.example"),
                         else_branch=_branch("else", "Relu")),
        helper.make_node("Enigma", ["y"], ["z"], domain="com.example"),
        helper.make_node("Mystery", ["z"], ["w"], domain="com.example"),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
                                           helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("w", TensorProto.FLOAT, [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.example", 1)])
    assert find_unsupported(model) == {"com.example::Mystery": 2, "com.example::Enigma": 1}
    with pytest.raises(UnsupportedError) as info:
        build_program(model)
    assert info.value.exit_code == 3
    assert info.value.unsupported == {"com.example::Mystery": 2, "com.example::Enigma": 1}
    assert "com.example::Mystery x2" in str(info.value)


def test_channels_last_twins_spare_the_transposes_between_convs():
    """conv -> relu -> add(residual) -> conv: the second conv reads channels-last tensors directly."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((4, 4, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((4, 4, 3, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Add", ["r1", "c1"], ["s1"]),
        helper.make_node("Conv", ["s1", "w2"], ["y"], pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
                              initializer=[onnx.numpy_helper.from_array(w1, "w1"), onnx.numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    program = build_program(model, use_variables=False)
    graph_def = program.function.graph.as_graph_def()
    conv_inputs = []
    for nodes in [graph_def.node, *(f.node_def for f in graph_def.library.function)]:  # the body and any callee
        kinds = {node.name: node.op for node in nodes}
        conv_inputs += [kinds[node.input[0].split(":")[0]] for node in nodes if node.op == "Conv2D"]
    assert len(conv_inputs) == 2 and conv_inputs[1] != "Transpose", conv_inputs
    x = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
    from tests.converters.onnx_tf.ops.node_check import run_reference

    want = run_reference(model, {"x": x}, runtime="onnxruntime")[0]
    got = program.function(tf.constant(x))["y"].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)  # values reach 60: float32 sums differ
