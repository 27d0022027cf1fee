"""passes/float16.py: float16 arithmetic in float32, float16 kept at the graph's edges."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from bridge_converters.onnx_tf.passes.float16 import float16_as_float32, has_float16_arithmetic

rng = np.random.default_rng(0)


def _mixed_precision_cnn() -> onnx.ModelProto:
    """Keras' mixed_float16 as tf2onnx writes it: int ids -> float32 embedding -> Cast to float16 -> float16
    Conv1D (as Unsqueeze/Conv/Squeeze), bias and Relu -> a float16 Softmax output."""
    half = np.float16
    inits = [
        numpy_helper.from_array(rng.standard_normal((20, 16)).astype(np.float32), "table"),
        numpy_helper.from_array((rng.standard_normal((24, 16, 1, 5)) * 0.3).astype(half), "w"),
        numpy_helper.from_array((rng.standard_normal((1, 24, 1)) * 0.1).astype(half), "b"),
        numpy_helper.from_array(np.array([2], np.int64), "axis"),
    ]
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["emb"]),
        helper.make_node("Cast", ["emb"], ["emb16"], to=TensorProto.FLOAT16),
        helper.make_node("Transpose", ["emb16"], ["nct"], perm=[0, 2, 1]),
        helper.make_node("Unsqueeze", ["nct", "axis"], ["nc1t"]),
        helper.make_node("Conv", ["nc1t", "w"], ["conv"], pads=[0, 2, 0, 2]),
        helper.make_node("Squeeze", ["conv", "axis"], ["sq"]),
        helper.make_node("Add", ["sq", "b"], ["biased"]),
        helper.make_node("Relu", ["biased"], ["act"]),
        helper.make_node("Softmax", ["act"], ["y"], axis=1),
    ]
    graph = helper.make_graph(nodes, "mixed", [helper.make_tensor_value_info("ids", TensorProto.INT32, [2, 30])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [2, 24, 30])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_float16_arithmetic_becomes_float32_inside_and_the_edges_keep_float16():
    original = _mixed_precision_cnn()
    assert has_float16_arithmetic(original)
    model = float16_as_float32(original)
    assert original.graph.initializer[1].data_type == TensorProto.FLOAT16  # a copy
    types = {t.name: t.data_type for t in model.graph.initializer}
    assert types == {"table": TensorProto.FLOAT, "w": TensorProto.FLOAT, "b": TensorProto.FLOAT,
                     "axis": TensorProto.INT64}
    assert numpy_helper.to_array(model.graph.initializer[1]).dtype == np.float32
    cast = next(n for n in model.graph.node if n.op_type == "Cast")
    assert helper.get_attribute_value(cast.attribute[0]) == TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT16  # the walker casts back
    assert not has_float16_arithmetic(model)  # nothing float16 is left to rewrite


def test_float16_weights_in_external_data_and_quantize_linear_keep_float16(tmp_path):
    onnx.save(_mixed_precision_cnn(), tmp_path / "m.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
              location="m.data", size_threshold=0)
    assert not has_float16_arithmetic(onnx.load(tmp_path / "m.onnx", load_external_data=False))
    # QuantizeLinear divides in its input's precision (ONNX spec): float16 there decides the integers
    quantized = _mixed_precision_cnn()
    quantized.graph.initializer.extend([numpy_helper.from_array(np.array(0.1, np.float16), "s")])
    quantized.graph.node.append(helper.make_node("QuantizeLinear", ["y", "s"], ["q"]))
    assert not has_float16_arithmetic(quantized)


@pytest.mark.slow
def test_a_mixed_precision_cnn_reaches_builtin_tflite_and_matches_onnx_runtime(tmp_path):
    from bridge.api import convert
    from tools.corpus import tflite_op_counts

    path = tmp_path / "mixed.onnx"
    onnx.save(_mixed_precision_cnn(), path)
    ids = rng.integers(0, 20, (2, 30)).astype(np.int32)
    result = convert(str(path), to="tflite", out_dir=tmp_path / "out", inputs={"ids": ids})
    assert result.passed, [p.to_json() for p in result.parity]
    assert {o.dtype for p in result.parity for o in p.outputs} == {"float16"}
    counts = tflite_op_counts(tmp_path / "out" / "mixed.tflite")
    assert "CONV_2D" in counts and not [op for op in counts if op.startswith("Flex")], counts
    assert any("float16 arithmetic runs in float32" in w for w in result.warnings), result.warnings
