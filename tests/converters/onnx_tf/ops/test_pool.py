import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import (check_node, make_node_model, run_reference, run_tf,
                                                     tflite_builtins)

rng = np.random.default_rng(0)
X = rng.standard_normal((1, 3, 9, 9)).astype(np.float32)


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [3, 3]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
    {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1},
    {"kernel_shape": [3, 3], "dilations": [2, 2]},
    {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]},
    {"kernel_shape": [1, 2], "strides": [3, 2]},  # strides larger than the window
    {"kernel_shape": [2, 3], "strides": [2, 3], "dilations": [2, 2], "ceil_mode": 1},  # strides with dilations
])
def test_max_pool(attrs):
    check_node("MaxPool", {"x": X}, attrs)


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
    {"kernel_shape": [2, 2], "strides": [2, 2], "storage_order": 1},
    {"kernel_shape": [3, 2], "strides": [3, 1], "dilations": [1, 2], "ceil_mode": 1},
])
def test_max_pool_indices(attrs):
    x = rng.standard_normal((2, 2, 7, 6)).astype(np.float32)
    check_node("MaxPool", {"x": x}, attrs, n_outputs=2)


def test_max_pool_int8():
    x = rng.integers(-128, 127, (1, 2, 6, 6), dtype=np.int8)
    check_node("MaxPool", {"x": x}, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2]})


def test_max_pool_3d_dilated_strided():
    x = rng.standard_normal((1, 1, 7, 7, 7)).astype(np.float32)
    check_node("MaxPool", {"x": x}, {"kernel_shape": [2, 2, 2], "strides": [3, 3, 3], "dilations": [2, 2, 2]})


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]},
    {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1},
    {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1},
    {"kernel_shape": [2, 2], "strides": [3, 3], "pads": [1, 0, 1, 0], "ceil_mode": 1, "count_include_pad": 1},
    {"kernel_shape": [3, 3], "strides": [2, 2], "dilations": [2, 2], "pads": [1, 1, 1, 1]},
])
def test_average_pool(attrs):
    check_node("AveragePool", {"x": X}, attrs, opset=19)


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [3, 3], "p": 3},
    {"kernel_shape": [2, 2], "strides": [3, 3], "pads": [1, 1, 1, 1]},
])
def test_lp_pool(attrs):
    check_node("LpPool", {"x": X}, attrs, opset=18, rtol=1e-4)


def test_max_unpool():
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    pooled = check_node("MaxPool", {"x": x}, {"kernel_shape": [2, 2], "strides": [2, 2]}, n_outputs=2)
    check_node("MaxUnpool", {"y": pooled[0], "i": pooled[1]}, {"kernel_shape": [2, 2], "strides": [2, 2]},
               initializers={"shape": np.array([1, 2, 5, 5], np.int64)})


def test_global_pools():
    check_node("GlobalAveragePool", {"x": X})
    check_node("GlobalMaxPool", {"x": X})
    check_node("GlobalLpPool", {"x": X}, {"p": 3}, rtol=1e-4, runtime="onnxruntime")


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_same_upper_over_unknown_sizes(op):
    x = rng.standard_normal((1, 2, 7, 6)).astype(np.float32)
    model = make_node_model(op, {"x": x}, {"kernel_shape": [3, 2], "strides": [2, 2], "auto_pad": "SAME_UPPER"})
    for dim in list(model.graph.input[0].type.tensor_type.shape.dim)[2:]:
        dim.dim_param = "s"
    np.testing.assert_allclose(run_tf(model, {"x": x})[0], run_reference(model, {"x": x})[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("include_pad", [0, 1])
def test_average_pool_pads_over_unknown_sizes(include_pad):
    x = rng.standard_normal((1, 2, 7, 6)).astype(np.float32)
    attrs = {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 1, 2], "count_include_pad": include_pad}
    model = make_node_model("AveragePool", {"x": x}, attrs)
    for dim in list(model.graph.input[0].type.tensor_type.shape.dim)[2:]:
        dim.dim_param = "s"
    np.testing.assert_allclose(run_tf(model, {"x": x})[0], run_reference(model, {"x": x})[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op,attrs", [
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}),
    ("AveragePool", {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 0, 1, 0], "ceil_mode": 1}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1,
                     "count_include_pad": 1}),
])
def test_ceil_mode_over_unknown_sizes(op, attrs):
    for size in ((7, 6), (8, 9)):
        x = rng.standard_normal((1, 2, *size)).astype(np.float32)
        model = make_node_model(op, {"x": x}, attrs)
        for dim in list(model.graph.input[0].type.tensor_type.shape.dim)[2:]:
            dim.dim_param = "s"
        np.testing.assert_allclose(run_tf(model, {"x": x})[0], run_reference(model, {"x": x})[0], rtol=1e-5,
                                   atol=1e-6)


def test_window_larger_than_a_dynamic_input_gives_an_empty_output_not_a_crash():
    """TF's pooling kernel divides by zero on this geometry; ONNX Runtime returns an empty tensor."""
    import tensorflow as tf
    from onnx import TensorProto, helper

    from bridge_converters.onnx_tf import build_program

    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, "w"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, None])])
    program = build_program(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]), use_variables=False)
    out = program.function(tf.zeros([1, 2, 1]))["y"].numpy()
    assert out.shape == (1, 2, 0)
    wide = program.function(tf.reshape(tf.range(8, dtype=tf.float32), [1, 2, 4]))["y"].numpy()
    np.testing.assert_array_equal(wide, [[[1, 2, 3], [5, 6, 7]]])


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [2, 2, 2], "strides": [2, 2, 2]},
    {"kernel_shape": [3, 2, 3], "strides": [1, 2, 2], "pads": [1, 0, 1, 1, 0, 1]},
])
def test_3d_pools_run_as_two_2d_pools(op, attrs):
    """3-D pooling is decomposed (TFLite has no builtin 3-D pool); the result must not change."""
    x = rng.standard_normal((2, 3, 5, 6, 7)).astype(np.float32)
    check_node(op, {"x": x}, attrs)
    from tests.converters.onnx_tf.ops.test_shape import check_dynamic

    check_dynamic(op, {"x": x}, attrs)


@pytest.mark.parametrize("op,attrs", [
    ("MaxPool", {"kernel_shape": [5, 5], "pads": [2, 2, 2, 2]}),  # YOLO's SPPF
    ("MaxPool", {"kernel_shape": [2, 2], "pads": [0, 0, 1, 1]}),
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
])
def test_pads_that_are_tf_same_pool_as_one_builtin_over_dynamic_sizes(op, attrs, tmp_path):
    """Stride-1 pads that equal TF's SAME padding pool in one SAME pool: TFLite gets one pool builtin, not a
    PAD plus an IF checking the window fits (whose output lost the shape and made later convolutions Flex)."""
    model = make_node_model(op, {"x": X}, attrs)
    for dim in list(model.graph.input[0].type.tensor_type.shape.dim)[2:]:
        dim.dim_param = "s"
    for size in ((9, 9), (6, 11)):
        x = rng.standard_normal((1, 3, *size)).astype(np.float32)
        # onnx's reference MaxPool reads uneven 2-D pads in the wrong order; ONNX Runtime is the reference
        want = run_reference(model, {"x": x}, runtime="onnxruntime")[0]
        np.testing.assert_allclose(run_tf(model, {"x": x})[0], want, rtol=1e-5, atol=1e-6)
    census = tflite_builtins(model, tmp_path)
    assert {k: v for k, v in census.items() if k != "TRANSPOSE"} == {op.upper().replace("POOL", "_POOL_2D"): 1}, census


def test_pads_unlike_tf_same_still_pool_exactly():
    x = rng.standard_normal((1, 2, 8, 7)).astype(np.float32)
    for attrs in ({"kernel_shape": [3, 3], "pads": [0, 2, 2, 0]}, {"kernel_shape": [3, 3], "strides": [2, 2],
                                                                   "pads": [1, 1, 1, 1]}):
        check_node("MaxPool", {"x": x}, attrs)
        check_node("AveragePool", {"x": x}, attrs)
