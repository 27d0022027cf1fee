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
