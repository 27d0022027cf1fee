import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import check_node
from tests.converters.onnx_tf.ops.test_shape import check_dynamic

rng = np.random.default_rng(0)
X = rng.uniform(0.5, 2.0, (2, 3, 4)).astype(np.float32)
I64 = np.int64
OPS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
       "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]


def _axes_opset(op):
    return 13 if op == "ReduceSum" else 18


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("axes,keepdims", [(None, 1), ([1], 0), ([-1, 0], 1), ([0, 2], 0)])
def test_reduce_axes_attribute(op, axes, keepdims):
    attrs = {"keepdims": keepdims} if axes is None else {"axes": axes, "keepdims": keepdims}
    check_node(op, {"x": X}, attrs, opset=11, rtol=1e-5)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("axes,keepdims", [([1], 0), ([-1, 0], 1)])
def test_reduce_axes_input(op, axes, keepdims):
    opset = _axes_opset(op)
    axes_a = np.array(axes, I64)
    check_node(op, {"x": X}, {"keepdims": keepdims}, opset=opset, initializers={"axes": axes_a})
    check_node(op, {"x": X, "axes": axes_a}, {"keepdims": keepdims}, opset=opset)
    check_dynamic(op, {"x": X, "axes": axes_a}, {"keepdims": keepdims}, opset=opset)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMax", "ReduceProd", "ReduceMean"])
@pytest.mark.parametrize("noop", [0, 1])
def test_reduce_empty_axes(op, noop):
    opset = _axes_opset(op)
    empty = np.array([], I64)
    attrs = {"keepdims": 0, "noop_with_empty_axes": noop}
    check_node(op, {"x": X}, attrs, opset=opset)  # axes input omitted
    check_node(op, {"x": X}, attrs, opset=opset, initializers={"axes": empty})
    check_dynamic(op, {"x": X, "axes": empty}, attrs, opset=opset)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceLogSumExp", "ReduceL2"])
def test_reduce_empty_set(op):
    x = np.zeros((2, 0, 4), np.float32)
    check_node(op, {"x": x}, {"keepdims": 1}, opset=_axes_opset(op), initializers={"axes": np.array([1], I64)})


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceSumSquare"])
def test_reduce_int(op):
    x = rng.integers(-5, 5, (3, 4)).astype(np.int32)
    check_node(op, {"x": x}, {"keepdims": 0}, opset=_axes_opset(op), initializers={"axes": np.array([1], I64)})


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin"])
def test_reduce_bool(op):
    x = np.array([[True, False], [True, True]])
    check_node(op, {"x": x}, {"keepdims": 0}, opset=20, initializers={"axes": np.array([1], I64)})


TIES = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, -1.0, -1.0]], np.float32)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("axis,keepdims,last", [(0, 1, 0), (1, 0, 0), (-1, 1, 1), (1, 0, 1)])
def test_arg(op, axis, keepdims, last):
    attrs = {"axis": axis, "keepdims": keepdims, "select_last_index": last}
    check_node(op, {"x": TIES}, attrs)
    check_dynamic(op, {"x": TIES}, attrs)


def test_arg_v11():
    check_node("ArgMax", {"x": TIES}, {"axis": 1}, opset=11)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("last", [0, 1])
def test_arg_nan(op, last):
    x = np.array([[1.0, np.nan, 3.0, np.nan], [2.0, 0.0, 2.0, 0.0]], np.float32)
    check_node(op, {"x": x}, {"axis": 1, "select_last_index": last})
