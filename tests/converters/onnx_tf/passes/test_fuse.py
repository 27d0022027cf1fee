"""Fusions before conversion: BatchNormalization folded into the convolution, Pad merged into the Conv, GELU
and GroupNorm written out become one node."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from bridge_converters.onnx_tf import build_program
from bridge_converters.onnx_tf.passes.fuse import fold_batch_norm, fuse_gelu, fuse_group_norm, merge_pad
from tests.converters.onnx_tf.ops.node_check import run_reference, run_tf, transpose_count

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


def _gelu_nodes(order):
    mul = helper.make_node
    nodes = [helper.make_node("Div", ["x", "sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
             helper.make_node("Add", ["e", "one"], ["a"])]
    if order == "x_last":  # torch: ((1 + erf) * 0.5) * x
        nodes += [mul("Mul", ["a", "half"], ["m"]), mul("Mul", ["m", "x"], ["y"])]
    elif order == "half_last":  # ((1 + erf) * x) * 0.5
        nodes += [mul("Mul", ["x", "a"], ["m"]), mul("Mul", ["m", "half"], ["y"])]
    else:  # (x * 0.5) * (1 + erf), with x / sqrt(2) written as x * 0.7071
        nodes[0] = helper.make_node("Mul", ["x", "inv_sqrt2"], ["d"])
        nodes += [mul("Mul", ["half", "x"], ["h"]), mul("Mul", ["h", "a"], ["y"])]
    return nodes


@pytest.mark.parametrize("order", ["x_last", "half_last", "half_first"])
def test_written_out_gelu_becomes_one_gelu(order):
    inits = {"sqrt2": np.array(np.sqrt(2), np.float32), "inv_sqrt2": np.array(1 / np.sqrt(2), np.float32),
             "one": np.array(1, np.float32), "half": np.array(0.5, np.float32)}
    model = _model(_gelu_nodes(order), inits, [2, 5], opset=13)
    x = RNG.standard_normal((2, 5)).astype(np.float32) * 3
    want = run_reference(model, {"x": x}, runtime="onnxruntime")[0]
    assert fuse_gelu(model)
    assert [(n.domain, n.op_type) for n in model.graph.node] == [("com.microsoft", "Gelu")]
    assert not model.graph.initializer  # the constants went with the nodes
    np.testing.assert_allclose(run_tf(model, {"x": x})[0], want, rtol=1e-6, atol=1e-6)


def test_gelu_is_left_alone_when_an_intermediate_is_read_elsewhere():
    inits = {"sqrt2": np.array(np.sqrt(2), np.float32), "one": np.array(1, np.float32), "half": np.array(0.5, np.float32)}
    nodes = _gelu_nodes("x_last")
    nodes[-1] = helper.make_node("Mul", ["m", "x"], ["g"])
    nodes.append(helper.make_node("Add", ["g", "e"], ["y"]))  # erf's output read twice
    model = _model(nodes, inits, [2, 5], opset=13)
    assert not fuse_gelu(model)


def _torch_group_norm(groups, back_by_shape, channels=8):
    """Conv -> GroupNorm as PyTorch exports it before opset 21 (Reshape(x, [0, G, -1]) ->
    InstanceNormalization (scale 1, bias 0) -> Reshape back, to a constant or to Shape(x) -> Mul, Add) -> Conv."""
    inits = {"w": RNG.standard_normal((channels, 3, 3, 3)).astype(np.float32),
             "w2": RNG.standard_normal((2, channels, 1, 1)).astype(np.float32),
             "split": np.array([0, groups, -1], np.int64), "ones": np.ones(groups, np.float32),
             "zeros": np.zeros(groups, np.float32), "back": np.array([1, channels, 6, 6], np.int64),
             "gamma": RNG.uniform(0.5, 2, (channels, 1, 1)).astype(np.float32),
             "beta": RNG.standard_normal((channels, 1, 1)).astype(np.float32)}
    back = [helper.make_node("Shape", ["c"], ["c_shape"])] if back_by_shape else []
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Reshape", ["c", "split"], ["g"]),
             helper.make_node("InstanceNormalization", ["g", "ones", "zeros"], ["n"], epsilon=1e-5), *back,
             helper.make_node("Reshape", ["n", "c_shape" if back_by_shape else "back"], ["r"]),
             helper.make_node("Mul", ["r", "gamma"], ["m"]), helper.make_node("Add", ["m", "beta"], ["a"]),
             helper.make_node("Conv", ["a", "w2"], ["y"])]
    return onnx.shape_inference.infer_shapes(_model(nodes, inits, [1, 3, 6, 6]))


def _transposes(model, fuse=True):
    """Transposes of the converted graph; ``fuse=False`` converts without the fusions (which
    ``build_program`` applies to ``model`` in place)."""
    return transpose_count(build_program(model, use_variables=False, fuse=fuse))


@pytest.mark.parametrize("back_by_shape", [False, True])
def test_group_norm_as_torch_exports_it_becomes_one_node_in_the_conv_layout(back_by_shape):
    model = _torch_group_norm(groups=4, back_by_shape=back_by_shape)
    x = RNG.standard_normal((1, 3, 6, 6)).astype(np.float32)
    want = run_reference(model, {"x": x}, runtime="onnxruntime")[0]
    assert _transposes(model, fuse=False) == 4  # the Reshapes need ONNX order: out of and back into NHWC
    assert fuse_group_norm(model)
    assert [n.op_type for n in model.graph.node] == ["Conv", "GroupNorm", "Mul", "Add", "Conv"]
    np.testing.assert_allclose(run_tf(model, {"x": x})[0], want, rtol=1e-5, atol=1e-5)
    assert _transposes(model) == 2  # x in, y out: the GroupNorm normalises the channels-last tensor


def test_group_norm_with_groups_that_do_not_divide_the_channels_is_left_alone():
    model = _torch_group_norm(groups=3, back_by_shape=False, channels=8)  # [0, 3, -1] of 8 * 36 values
    x = RNG.standard_normal((1, 3, 6, 6)).astype(np.float32)
    want = run_reference(model, {"x": x}, runtime="onnxruntime")[0]
    assert not fuse_group_norm(model)
    np.testing.assert_allclose(run_tf(model, {"x": x})[0], want, rtol=1e-5, atol=1e-5)
