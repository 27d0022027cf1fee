import numpy as np
from onnx import helper

from tests.converters.onnx_tf.ops.node_check import check_node, run_tf


def test_optional_get_element_tensor():
    check_node("OptionalGetElement", {"x": np.arange(6, dtype=np.float32).reshape(2, 3)}, opset=18)


def test_optional_has_element_tensor():
    check_node("OptionalHasElement", {"x": np.array([1, 2], np.int32)}, opset=18)


def test_optional_has_element_missing_input():
    for inputs in ([], [""]):
        node = helper.make_node("OptionalHasElement", inputs, ["y"])
        graph = helper.make_graph([node], "g", [], [helper.make_tensor_value_info("y", 9, [])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        (got,) = run_tf(model, {})
        assert got.dtype == np.bool_ and got.shape == () and not got
