import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import check_node, make_node_model, tflite_builtins
from tests.converters.onnx_tf.ops.test_shape import check_dynamic

rng = np.random.default_rng(0)
X = rng.standard_normal((3, 4, 5)).astype(np.float32)
I64 = np.int64


@pytest.mark.parametrize("axis,indices", [
    (0, np.array([2, -1, 0], I64)),
    (1, np.array([[0, -4], [3, 1]], np.int32)),
    (-1, np.array(-2, I64)),
])
def test_gather(axis, indices):
    check_node("Gather", {"x": X, "i": indices}, {"axis": axis})
    check_node("Gather", {"x": X}, {"axis": axis}, initializers={"i": indices})
    check_dynamic("Gather", {"x": X, "i": indices}, {"axis": axis})


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_elements(axis):
    shape = [2, 3, 4]  # smaller than the data's on every axis, which ONNX allows
    dim = X.shape[axis]
    indices = rng.integers(-dim, dim, size=shape).astype(I64)
    # onnx's reference evaluator mishandles negative axes and smaller index shapes; ORT does not.
    check_node("GatherElements", {"x": X, "i": indices}, {"axis": axis}, runtime="onnxruntime")
    check_node("GatherElements", {"x": X}, {"axis": axis}, initializers={"i": indices}, runtime="onnxruntime")
    check_dynamic("GatherElements", {"x": X, "i": indices}, {"axis": axis}, runtime="onnxruntime")


@pytest.mark.parametrize("batch_dims,indices", [
    (0, np.array([[0, 1], [-1, -2]], I64)),
    (0, np.array([[[2]], [[0]]], I64)),
    (1, np.array([[1], [-1], [0]], I64)),
    (1, np.array([[[1, 4], [0, -1]], [[2, 2], [3, 0]], [[0, 0], [1, 1]]], I64)),
])
def test_gather_nd(batch_dims, indices):
    check_node("GatherND", {"x": X, "i": indices}, {"batch_dims": batch_dims})
    check_dynamic("GatherND", {"x": X, "i": indices}, {"batch_dims": batch_dims})


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
@pytest.mark.parametrize("axis", [0, -1])
def test_scatter_elements(reduction, axis):
    data = rng.standard_normal((3, 4)).astype(np.float32)
    # Duplicates exercise the reduction; "none" gets distinct targets (duplicates are undefined there).
    distinct = {0: [[1, 0, 2, -1], [0, 2, 1, 0]], -1: [[3, -4], [0, 1], [2, 1]]}
    repeated = {0: [[1, 1, 2, -1], [1, 2, -2, 0]], -1: [[3, -1], [0, 0], [2, 1]]}
    indices = np.array((distinct if reduction == "none" else repeated)[axis], I64)
    updates = rng.standard_normal(indices.shape).astype(np.float32)
    attrs = {"axis": axis} if reduction == "none" else {"axis": axis, "reduction": reduction}
    check_node("ScatterElements", {"d": data, "i": indices, "u": updates}, attrs)
    check_dynamic("ScatterElements", {"d": data, "i": indices, "u": updates}, attrs)


def test_scatter_deprecated():
    data = np.zeros((3, 3), np.float32)
    indices = np.array([[1, 0, 2], [0, 2, 1]], I64)
    updates = np.arange(6, dtype=np.float32).reshape(2, 3)
    # onnx's reference evaluator dropped Scatter; ORT still runs it.
    check_node("Scatter", {"d": data, "i": indices, "u": updates}, {"axis": 0}, opset=10, runtime="onnxruntime")


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_nd(reduction):
    data = rng.standard_normal((4, 3, 2)).astype(np.float32)
    if reduction == "none":
        indices = np.array([[0], [-1]], I64)
    else:
        indices = np.array([[0, 1], [-4, 1], [2, 2]], I64)
    updates = rng.standard_normal((*indices.shape[:-1], *data.shape[indices.shape[-1]:])).astype(np.float32)
    attrs = {} if reduction == "none" else {"reduction": reduction}
    check_node("ScatterND", {"d": data, "i": indices, "u": updates}, attrs)
    check_dynamic("ScatterND", {"d": data, "i": indices, "u": updates}, attrs)


@pytest.mark.parametrize("reduction", ["max", "min"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_scatter_max_and_min_are_tflite_builtins(tmp_path, reduction, dtype):
    """MiniMol's graph pooling (ScatterElements, reduction max): a segment max over the updates, then the
    maximum with data, where TF's tensor_scatter_nd_max is Flex in TFLite. A slot no update reaches keeps
    its data, negative or not."""
    data = np.array([[-5, 2, 7], [1, -3, 0]], dtype)
    indices = np.array([[1, 1, 0], [1, 0, 0]], I64)
    updates = np.array([[4, -9, 3], [6, -1, 8]], dtype)
    attrs = {"axis": 0, "reduction": reduction}
    check_node("ScatterElements", {"d": data, "i": indices, "u": updates}, attrs)
    model = make_node_model("ScatterElements", {"d": data, "i": indices, "u": updates}, attrs)
    ops = tflite_builtins(model, tmp_path)
    assert ops.get(f"UNSORTED_SEGMENT_{reduction.upper()}") == 1, ops


def test_scatter_nd_int_mul():
    data = np.arange(1, 7, dtype=np.int32).reshape(2, 3)
    indices = np.array([[1, 0], [1, 0], [0, 2]], I64)
    updates = np.array([2, 3, -1], np.int32)
    check_node("ScatterND", {"d": data, "i": indices, "u": updates}, {"reduction": "mul"})


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("indices", [
    np.array([[0, -1, 5], [2, -6, 3]], I64),     # -6 and 5 are out of range for depth 5: all off
    np.array([[1.0, 2.0, -1.0]], np.float32),
])
def test_one_hot(axis, indices):
    depth = np.array(5, I64)
    values = np.array([-2.0, 3.0], np.float32)
    check_node("OneHot", {"i": indices, "depth": depth, "v": values}, {"axis": axis})
    check_dynamic("OneHot", {"i": indices, "depth": depth, "v": values}, {"axis": axis})


@pytest.mark.parametrize("mode", ["linear", "circular"])
@pytest.mark.parametrize("axis", [-2, 1])
def test_tensor_scatter(mode, axis):
    cache = rng.standard_normal((2, 3, 5, 2)).astype(np.float32) if axis == -2 else \
        rng.standard_normal((2, 5, 3)).astype(np.float32)
    update_shape = list(cache.shape)
    update_shape[axis] = 2
    update = rng.standard_normal(update_shape).astype(np.float32)
    write = np.array([1, 4] if mode == "circular" else [0, 3], I64)
    attrs = {"mode": mode, "axis": axis}
    check_node("TensorScatter", {"c": cache, "u": update, "w": write}, attrs, opset=24)
    check_node("TensorScatter", {"c": cache, "u": update}, attrs, opset=24)
