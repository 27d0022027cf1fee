import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import check_node
from tests.converters.onnx_tf.ops.test_shape import check_dynamic

rng = np.random.default_rng(0)
X = rng.uniform(0.5, 1.5, (2, 3, 4)).astype(np.float32)
I64 = np.int64


@pytest.mark.parametrize("op,opset", [("CumSum", 14), ("CumProd", 26)])
@pytest.mark.parametrize("axis", [0, -1, 1])
@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_scan(op, opset, axis, exclusive, reverse):
    attrs = {"exclusive": exclusive, "reverse": reverse}
    check_node(op, {"x": X, "axis": np.array(axis, I64)}, attrs, opset=opset)
    check_node(op, {"x": X}, attrs, opset=opset, initializers={"axis": np.array(axis, np.int32)})


def test_cumsum_int():
    x = np.arange(-3, 9, dtype=np.int64).reshape(3, 4)
    check_node("CumSum", {"x": x, "axis": np.array(1, I64)}, {"exclusive": 1}, opset=14)


TIES = np.array([[3.0, 1.0, 3.0, 2.0, 1.0], [0.0, 0.0, 0.0, 5.0, -1.0]], np.float32)


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("largest", [0, 1])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint8, np.int64, np.uint64])
def test_top_k(axis, largest, dtype):
    x = TIES.astype(dtype) if np.dtype(dtype).kind != "u" else (TIES + 1).astype(dtype)
    k = np.array([2 if axis == 0 else 3], I64)
    attrs = {"axis": axis, "largest": largest}
    check_node("TopK", {"x": x, "k": k}, attrs, n_outputs=2)
    check_dynamic("TopK", {"x": x, "k": k}, attrs, n_outputs=2)
    check_node("TopK", {"x": x}, attrs, n_outputs=2, initializers={"k": k})


def test_top_k_v1():
    check_node("TopK", {"x": TIES}, {"k": 2}, n_outputs=2, opset=9)


def test_top_k_uint64_extremes():
    x = np.array([[0, 2**64 - 1, 2**63, 2**63 - 1, 1]], np.uint64)
    for largest in (0, 1):
        check_node("TopK", {"x": x, "k": np.array([5], I64)}, {"largest": largest}, n_outputs=2)


@pytest.mark.parametrize("attrs,x", [
    ({}, np.array([2, 1, 1, 3, 4, 3], np.int64)),
    ({"sorted": 0}, np.array([2, 1, 1, 3, 4, 3], np.int64)),
    ({}, np.array([[1.5, 3.0], [2.0, 3.0]], np.float32)),
    ({"axis": 0}, np.array([[1, 0, 0], [1, 0, 0], [2, 3, 4], [0, 5, 5]], np.int32)),
    ({"axis": 1, "sorted": 0}, np.array([[1, 0, 1, 0], [2, 3, 2, 3]], np.int64)),
    ({"axis": -1}, np.array([[[1.0, 1.0], [0.0, 1.0]], [[2.0, 1.0], [0.0, 1.0]]], np.float32)),
])
def test_unique(attrs, x):
    # onnx's reference gets unsorted output along a non-zero axis wrong (it takes along axis 0); ORT is right.
    runtime = "onnxruntime" if attrs.get("sorted") == 0 and attrs.get("axis", 0) != 0 else "reference"
    check_node("Unique", {"x": x}, attrs, n_outputs=4, runtime=runtime)
    check_dynamic("Unique", {"x": x}, attrs, n_outputs=4, runtime=runtime)


@pytest.mark.parametrize("largest", [0, 1])
def test_top_k_nan(largest):
    x = np.array([[1.0, np.nan, 3.0, -2.0]], np.float32)
    check_node("TopK", {"x": x, "k": np.array([2], I64)}, {"largest": largest}, n_outputs=2)
