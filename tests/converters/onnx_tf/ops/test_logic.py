import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import check_node, make_node_model, run_tf

rng = np.random.default_rng(0)


@pytest.mark.parametrize("op", ["Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint16, np.int8])
def test_comparisons_broadcast(op, dtype):
    a = rng.integers(0, 4, (2, 3, 4)).astype(dtype)
    b = rng.integers(0, 4, (3, 1)).astype(dtype)
    check_node(op, {"a": a, "b": b})


def test_equal_strings_and_bools():
    check_node("Equal", {"a": np.array(["x", "y", "z"], object), "b": np.array(["x", "q", "z"], object)}, opset=19)
    check_node("Equal", {"a": np.array([True, False]), "b": np.array([True, True])})


@pytest.mark.parametrize("op", ["And", "Or", "Xor"])
def test_logical(op):
    a = rng.integers(0, 2, (2, 3, 4)).astype(bool)
    b = rng.integers(0, 2, (4,)).astype(bool)
    check_node(op, {"a": a, "b": b})


def test_legacy_broadcast_axis():
    # Opset 1-6 And with B aligned to A at axis 0.
    a = rng.integers(0, 2, (3, 2)).astype(bool)
    b = np.array([True, False, True])
    model = make_node_model("And", {"a": a, "b": b}, {"broadcast": 1, "axis": 0}, opset=6)
    np.testing.assert_array_equal(run_tf(model, {"a": a, "b": b})[0], a & b[:, None])


def test_not():
    check_node("Not", {"x": np.array([[True, False]])})


def test_where_broadcast():
    cond = rng.integers(0, 2, (2, 1, 4)).astype(bool)
    check_node("Where", {"c": cond, "x": rng.standard_normal((3, 1)).astype(np.float32),
                         "y": rng.standard_normal((4,)).astype(np.float32)})
    feeds = {"c": np.array([True, False]), "x": np.array(["a", "b"], object), "y": np.array(["c", "d"], object)}
    got = run_tf(make_node_model("Where", feeds), feeds)[0]
    assert [v.decode() for v in got] == ["a", "d"]


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64])
def test_bitshift_unsigned(direction, dtype):
    x = np.array([16, 4, 1, 255], dtype)
    y = np.array([1, 2, 3, 0], dtype)
    check_node("BitShift", {"x": x, "y": y}, {"direction": direction}, opset=11)


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8])
def test_bitshift_out_of_range_and_signed(direction, dtype):
    bits = np.dtype(dtype).itemsize * 8
    signed = np.dtype(dtype).kind == "i"
    x = np.array([-16 if signed else 16, 5, -1 if signed else 1, 7, 100, 3], dtype)
    y = np.array([2, 1, bits - 1, bits, bits + 3, -1 if signed else 0], dtype)
    check_node("BitShift", {"x": x, "y": y}, {"direction": direction}, opset=28)


def test_bitshift_broadcast():
    check_node("BitShift", {"x": np.array([[1, 2], [3, 4]], np.uint32), "y": np.array([2], np.uint32)},
               {"direction": "LEFT"}, opset=11)


@pytest.mark.parametrize("op", ["BitwiseAnd", "BitwiseOr", "BitwiseXor"])
@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.int64])
def test_bitwise_binary(op, dtype):
    a = rng.integers(0, 100, (2, 3)).astype(dtype)
    b = rng.integers(0, 100, (3,)).astype(dtype)
    check_node(op, {"a": a, "b": b}, opset=18)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.uint64])
def test_bitwise_not(dtype):
    check_node("BitwiseNot", {"x": np.array([0, 1, 5, 100], dtype)}, opset=18)
