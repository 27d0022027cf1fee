import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import check_node, make_node_model, run_tf, tf_op_dtypes

rng = np.random.default_rng(0)


def _rand(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("c_shape", [None, (), (1,), (4,), (1, 4), (3, 1), (3, 4)])
@pytest.mark.parametrize("attrs", [{}, {"transA": 1, "alpha": 0.5, "beta": 2.0}, {"transB": 1}])
def test_gemm(c_shape, attrs):
    a = _rand(*((5, 3) if attrs.get("transA") else (3, 5)))
    b = _rand(*((4, 5) if attrs.get("transB") else (5, 4)))
    inits = {"b": b} if c_shape is None else {"b": b, "c": _rand(*c_shape)}
    check_node("Gemm", {"a": a}, attrs, initializers=inits, opset=13, atol=1e-5)


@pytest.mark.parametrize("a_shape,b_shape", [((3,), (3,)), ((3,), (2, 3, 4)), ((2, 1, 3, 4), (4,)),
                                             ((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (4, 2))])
def test_matmul(a_shape, b_shape):
    check_node("MatMul", {"a": _rand(*a_shape), "b": _rand(*b_shape)}, atol=1e-5)


def test_matmul_int32():
    a = rng.integers(-50, 50, (2, 3, 4), dtype=np.int32)
    b = rng.integers(-50, 50, (4, 2), dtype=np.int32)
    check_node("MatMul", {"a": a, "b": b})


def test_matmul_integer():
    a = rng.integers(0, 255, (2, 3, 4), dtype=np.uint8)
    b = rng.integers(-128, 127, (4, 2), dtype=np.int8)
    check_node("MatMulInteger", {"a": a, "b": b},
               initializers={"az": np.array(7, np.uint8), "bz": np.array(-3, np.int8)})


def test_matmul_integer_per_row_zero_points():
    # neither the reference evaluator nor ONNX Runtime takes per-row/per-column zero points: numpy checks
    a = rng.integers(0, 255, (3, 4), dtype=np.uint8)
    b = rng.integers(-128, 127, (4, 2), dtype=np.int8)
    az, bz = np.array([1, 2, 3], np.uint8), np.array([-1, 4], np.int8)
    model = make_node_model("MatMulInteger", {"a": a, "b": b, "az": az, "bz": bz})
    (got,) = run_tf(model, {"a": a, "b": b, "az": az, "bz": bz})
    want = (a.astype(np.int32) - az[:, None]) @ (b.astype(np.int32) - bz[None, :])
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_qlinear_matmul(dtype):
    info = np.iinfo(dtype)
    a = rng.integers(info.min, info.max, (2, 3, 4), dtype=dtype)
    b = rng.integers(info.min, info.max, (4, 5), dtype=dtype)
    inits = {"as": np.array(0.02, np.float32), "az": np.array(3, dtype), "b": b, "bs": np.array(0.03, np.float32),
             "bz": np.array(-2 if info.min < 0 else 7, dtype), "ys": np.array(0.05, np.float32),
             "yz": np.array(5, dtype)}
    check_node("QLinearMatMul", {"a": a}, initializers=inits,
               input_names=["a", "as", "az", "b", "bs", "bz", "ys", "yz"])


@pytest.mark.parametrize("k,work", [(4, "float32"), (1200, "int32")])
def test_qlinear_matmul_accumulates_in_float32_only_where_every_sum_is_exact(k, work):
    # uint8 activations (|a - 3| <= 252) times constant full-range int8 weights: K = 4 stays far below 2**24,
    # K = 1200 can exceed it, so that one keeps int32; both equal the reference exactly
    a = rng.integers(0, 255, (2, k), dtype=np.uint8)
    b = np.where(rng.random((k, 3)) < 0.5, -128, 127).astype(np.int8)
    inits = {"as": np.array(0.02, np.float32), "az": np.array(3, np.uint8), "b": b, "bs": np.array(0.001, np.float32),
             "bz": np.array(0, np.int8), "ys": np.array(4.0, np.float32), "yz": np.array(128, np.uint8)}
    names = ["a", "as", "az", "b", "bs", "bz", "ys", "yz"]
    check_node("QLinearMatMul", {"a": a}, initializers=inits, input_names=names)
    assert tf_op_dtypes(make_node_model("QLinearMatMul", {"a": a}, initializers=inits, input_names=names),
                        "MatMul") == {work}


@pytest.mark.parametrize("equation,shapes", [
    ("ij,jk", [(2, 3), (3, 4)]),  # implicit output
    ("...ij,...jk->...ik", [(2, 2, 3), (2, 3, 4)]),
    ("bii->bi", [(2, 3, 3)]),
    ("i j , j k -> i k", [(2, 3), (3, 4)]),
    ("Ab,bA->A", [(2, 3), (3, 2)]),
])
def test_einsum(equation, shapes):
    inputs = {f"x{i}": _rand(*s) for i, s in enumerate(shapes)}
    check_node("Einsum", inputs, {"equation": equation}, opset=12, atol=1e-5)


def test_a_linear_layer_on_3d_activations_runs_as_one_2d_matmul_and_a_bias_add():
    # TF fuses MatMul + BiasAdd (BatchMatMulV2 + AddV2 it does not); the numbers stay the reference's
    from onnx import TensorProto, helper, numpy_helper

    x, w, bias = _rand(2, 5, 4), _rand(4, 3), _rand(3)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "bias"], ["y"])], "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5, 3])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(bias, "bias")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (got,) = run_tf(model, {"x": x})
    np.testing.assert_allclose(got, x @ w + bias, rtol=1e-5, atol=1e-6)
    assert tf_op_dtypes(model, "MatMul") == tf_op_dtypes(model, "BiasAdd") == {"float32"}
    assert tf_op_dtypes(model, "BatchMatMulV2") == set()
