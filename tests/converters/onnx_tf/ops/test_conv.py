import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import (check_node, make_node_model, run_reference, run_tf, tf_op_dtypes,
                                                    tf_op_types, tflite_builtins)

rng = np.random.default_rng(0)


def _rand(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("x_shape,w_shape,attrs", [
    ((1, 2, 9), (3, 2, 3), {"strides": [2], "pads": [1, 2]}),
    ((1, 4, 8, 7), (6, 2, 3, 3), {"group": 2, "dilations": [2, 1], "strides": [2, 2]}),
    ((1, 4, 8, 8), (4, 1, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]}),  # depthwise
    ((1, 4, 8, 8), (8, 1, 3, 3), {"group": 4, "strides": [1, 2]}),  # depthwise, multiplier 2, uneven strides
    ((1, 3, 7, 7), (2, 3, 3, 3), {"auto_pad": "SAME_LOWER", "strides": [2, 2]}),
    ((1, 3, 7, 7), (2, 3, 2, 2), {"auto_pad": "SAME_UPPER", "dilations": [2, 2]}),
    ((1, 4, 6, 6, 6), (4, 2, 3, 3, 3), {"group": 2, "dilations": [2, 1, 1], "pads": [1, 0, 1, 1, 0, 1]}),
])
def test_conv(x_shape, w_shape, attrs):
    check_node("Conv", {"x": _rand(*x_shape)}, attrs, initializers={"w": _rand(*w_shape), "b": _rand(w_shape[0])},
               atol=1e-5)


@pytest.mark.parametrize("group", [1, 2, 4])
def test_grouped_conv_adds_its_bias_with_an_add_tf_cannot_fuse_into_a_kernel_without_groups(group):
    """TF fuses Conv2D + BiasAdd into _FusedConv2D, whose CPU kernel rejects grouped filters when a Session
    (TensorFlow Serving, bridge's TF runner) runs the graph; plain and depthwise convolutions keep the BiasAdd
    TF fuses. tests/bridge/test_api.py's SmallCNN runs such a grouped convolution through a Session."""
    from bridge_converters.onnx_tf import build_program

    inputs, attrs = {"x": _rand(1, 4, 8, 8)}, {"group": group, "pads": [1, 1, 1, 1], "strides": [2, 2]}
    weights = {"w": _rand(4, 4 // group, 3, 3), "b": _rand(4)}
    graph = build_program(make_node_model("Conv", inputs, attrs, initializers=weights),
                          use_variables=False).function.graph
    convs = [op for op in graph.get_operations() if op.type in ("Conv2D", "DepthwiseConv2dNative")]
    assert {c.type for op in convs for c in op.outputs[0].consumers()} == ({"AddV2"} if group == 2 else {"BiasAdd"})
    check_node("Conv", inputs, attrs, initializers=weights, atol=1e-5)


# the reference evaluator mishandles group > 1 with several channels per group: ONNX Runtime checks those
@pytest.mark.parametrize("x_shape,w_shape,attrs", [
    ((1, 2, 5), (2, 3, 3), {"strides": [2], "output_padding": [1]}),
    ((1, 2, 4, 5), (2, 3, 3, 3), {"strides": [2, 3], "pads": [1, 0, 2, 1], "dilations": [2, 1]}),
    ((1, 4, 3, 3), (4, 2, 3, 3), {"group": 2, "strides": [2, 2], "output_padding": [1, 0]}),
    ((2, 3, 4, 3), (3, 1, 3, 2), {"group": 3, "strides": [2, 2], "pads": [1, 0, 0, 1], "dilations": [1, 2]}),
    ((1, 2, 3, 3), (2, 2, 3, 3), {"strides": [2, 2], "output_shape": [5, 7]}),
    ((1, 2, 3, 4), (2, 1, 2, 2), {"strides": [2, 2], "auto_pad": "SAME_LOWER"}),
    ((1, 2, 3, 3, 3), (2, 2, 2, 2, 2), {"strides": [2, 1, 2], "pads": [0, 1, 0, 1, 0, 0]}),
])
def test_conv_transpose(x_shape, w_shape, attrs):
    check_node("ConvTranspose", {"x": _rand(*x_shape)}, attrs,
               initializers={"w": _rand(*w_shape), "b": _rand(w_shape[1] * attrs.get("group", 1))}, atol=1e-5,
               runtime="onnxruntime" if attrs.get("group", 1) > 1 or "output_shape" in attrs else "reference")


def test_conv_integer():
    x = rng.integers(0, 255, (1, 2, 5, 5), dtype=np.uint8)
    w = rng.integers(0, 255, (3, 2, 3, 3), dtype=np.uint8)
    check_node("ConvInteger", {"x": x}, {"pads": [1, 1, 1, 1]},
               initializers={"w": w, "xz": np.array(3, np.uint8), "wz": np.array(100, np.uint8)})


def test_qlinear_conv_per_channel():
    x = rng.integers(0, 255, (1, 2, 5, 5), dtype=np.uint8)
    w = rng.integers(-127, 127, (3, 2, 3, 3), dtype=np.int8)
    inits = {"xs": np.array(0.05, np.float32), "xz": np.array(120, np.uint8), "w": w,
             "ws": np.array([0.01, 0.02, 0.03], np.float32), "wz": np.zeros(3, np.int8),
             "ys": np.array(0.2, np.float32), "yz": np.array(128, np.uint8), "b": np.array([5, -300, 70], np.int32)}
    check_node("QLinearConv", {"x": x}, {"pads": [1, 0, 1, 0]}, initializers=inits,
               input_names=["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], opset=13)


@pytest.mark.parametrize("channels,work", [(2, "float32"), (64, "float64")])
def test_qlinear_conv_accumulates_in_float32_only_where_every_sum_is_exact(channels, work):
    # 3x3 x C taps of |x - 0| <= 255 times |w| = 127: C = 2 stays far below 2**24, C = 64 can pass it (18.7M)
    x = rng.integers(0, 255, (1, channels, 4, 4), dtype=np.uint8)
    w = np.where(rng.random((2, channels, 3, 3)) < 0.5, -127, 127).astype(np.int8)
    inits = {"xs": np.array(0.01, np.float32), "xz": np.array(0, np.uint8), "w": w, "ws": np.array(0.001, np.float32),
             "wz": np.array(0, np.int8), "ys": np.array(8.0, np.float32), "yz": np.array(128, np.uint8)}
    names = ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"]
    check_node("QLinearConv", {"x": x}, {"pads": [1, 1, 1, 1]}, initializers=inits, input_names=names, opset=13)
    model = make_node_model("QLinearConv", {"x": x}, {"pads": [1, 1, 1, 1]}, opset=13, initializers=inits,
                            input_names=names)
    assert tf_op_dtypes(model, "Conv2D") == {work}


def test_deform_conv():
    x = _rand(1, 4, 5, 5)
    w = _rand(4, 2, 2, 2)
    offset = (rng.standard_normal((1, 2 * 2 * 2 * 2, 4, 4)) * 1.5).astype(np.float32)
    mask = rng.random((1, 2 * 4, 4, 4)).astype(np.float32)
    check_node("DeformConv", {"x": x, "w": w, "offset": offset, "b": _rand(4), "mask": mask},
               {"group": 2, "offset_group": 2}, opset=19, atol=1e-5)


def _with_dynamic_spatial(model):
    for i, dim in enumerate(model.graph.input[0].type.tensor_type.shape.dim):
        if i >= 2:
            dim.dim_param = f"d{i}"
    return model


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER"])
def test_conv_same_over_unknown_sizes(auto_pad):
    x = _rand(1, 2, 7, 6)
    w = _rand(3, 2, 3, 2)
    model = _with_dynamic_spatial(make_node_model("Conv", {"x": x}, {"auto_pad": auto_pad, "strides": [2, 2]},
                                                  initializers={"w": w}))
    np.testing.assert_allclose(run_tf(model, {"x": x})[0], run_reference(model, {"x": x})[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("x_shape,w_shape,attrs", [
    ((2, 2, 5), (2, 3, 3), {"strides": [2], "output_padding": [1], "pads": [1, 0]}),
    ((2, 2, 4, 5), (2, 3, 3, 3), {"strides": [2, 2], "pads": [1, 1, 0, 0]}),
    ((2, 3, 4, 5), (3, 1, 3, 3), {"strides": [2, 2], "group": 3}),
])
def test_conv_transpose_unknown_batch_and_sizes(x_shape, w_shape, attrs):
    x = _rand(*x_shape)
    model = make_node_model("ConvTranspose", {"x": x}, attrs, initializers={"w": _rand(*w_shape)})
    for i, dim in enumerate(model.graph.input[0].type.tensor_type.shape.dim):
        if i != 1:  # everything but the channels
            dim.dim_param = f"d{i}"
    np.testing.assert_allclose(run_tf(model, {"x": x})[0], run_reference(model, {"x": x})[0], rtol=1e-5, atol=1e-5)


def _pointwise_model(x_shape, out_channels, activation, strides=(1, 1)):
    """Conv (with bias) then an activation node, as exporters write a MobileNet's expand layer."""
    from onnx import TensorProto, helper, numpy_helper

    act = {"Relu": helper.make_node("Relu", ["z"], ["y"]),
           "Clip": helper.make_node("Clip", ["z", "lo", "hi"], ["y"])}[activation]
    weights = [numpy_helper.from_array(_rand(out_channels, x_shape[1], 1, 1), "w"),
               numpy_helper.from_array(_rand(out_channels), "b"),
               numpy_helper.from_array(np.float32(0.0), "lo"), numpy_helper.from_array(np.float32(6.0), "hi")]
    y_shape = [x_shape[0], out_channels, *(-(-d // s) for d, s in zip(x_shape[2:], strides))]
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w", "b"], ["z"], strides=list(strides)), act], "pw",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


@pytest.mark.parametrize("activation,tf_op", [("Relu", "Relu"), ("Clip", "Relu6")])
def test_small_pointwise_conv_is_a_matmul_with_its_bias_and_activation_on_the_2d_product(activation, tf_op):
    """A small 1x1 convolution is one 2-D MatMul: with oneDNN a Conv2D call on a small map costs several times
    a MatMul's. Its bias and activation act on the 2-D product, where TF fuses them into the MatMul."""
    from bridge_converters.onnx_tf import build_program

    model = _pointwise_model((2, 8, 6, 5), 16, activation)
    graph = build_program(model, use_variables=False).function.graph
    types = [op.type for op in graph.get_operations()]
    assert "Conv2D" not in types and types.count("MatMul") == 1
    (bias,) = [op for op in graph.get_operations() if op.type == "BiasAdd"]
    assert bias.inputs[0].op.type == "MatMul"
    assert tf_op in [c.type for c in bias.outputs[0].consumers()]  # (beside the reshape of the unfused sum, dead)
    x = {"x": _rand(2, 8, 6, 5)}
    np.testing.assert_allclose(run_tf(model, x)[0], run_reference(model, x, "onnxruntime")[0], atol=1e-5)


@pytest.mark.parametrize("x_shape,strides", [((1, 64, 64, 64), (1, 1)), ((1, 8, 6, 6), (2, 2))])
def test_large_or_strided_pointwise_conv_stays_a_convolution(x_shape, strides):
    """Above a few million MACs oneDNN's Conv2D is as fast as the MatMul and XNNPACK prefers CONV_2D; a
    strided 1x1 would need a strided slice first, which XNNPACK does not take."""
    model = _pointwise_model(x_shape, 64, "Relu", strides)
    types = set(tf_op_types(model))
    assert "Conv2D" in types and "MatMul" not in types
    x = {"x": _rand(*x_shape)}
    np.testing.assert_allclose(run_tf(model, x)[0], run_reference(model, x, "onnxruntime")[0], atol=1e-4)


@pytest.mark.parametrize("x_shape,kernel,patches", [((2, 8, 6, 5), 2, True), ((1, 4, 5, 5), 3, True),
                                                    ((1, 8, 6, 6), 3, False), ((1, 64, 96, 96), 2, False)])
def test_small_transposed_conv_with_stride_equal_to_kernel_is_a_matmul_and_depth_to_space(tmp_path, x_shape, kernel,
                                                                                          patches):
    """Stride = kernel: each input pixel writes its own patch, so the transposed convolution is one MatMul
    and a DepthToSpace (TFLite: FULLY_CONNECTED, DEPTH_TO_SPACE); overlapping patches (stride 2, kernel 3)
    and big maps stay Conv2DBackpropInput (TRANSPOSE_CONV)."""
    x = _rand(*x_shape)
    stride = kernel if patches or x_shape[-1] == 96 else 2
    model = make_node_model("ConvTranspose", {"x": x}, {"strides": [stride, stride]},
                            initializers={"w": _rand(x_shape[1], 3, kernel, kernel), "b": _rand(3)})
    types = set(tf_op_types(model))
    assert ("DepthToSpace" in types and "Conv2DBackpropInput" not in types) == patches
    np.testing.assert_allclose(run_tf(model, {"x": x})[0], run_reference(model, {"x": x}, "onnxruntime")[0],
                               rtol=1e-5, atol=1e-5)
    if patches:
        ops = tflite_builtins(model, tmp_path)
        assert "TRANSPOSE_CONV" not in ops and {"FULLY_CONNECTED", "DEPTH_TO_SPACE"} <= set(ops), ops
