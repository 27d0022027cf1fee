import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import (check_node, make_node_model, run_reference, run_tf, tf_op_dtypes,
                                                    tf_op_types, tflite_builtins)

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


def _linear_model(activation, domain=""):
    """(1, 6, 8) x (8, 16) + b, then an activation: a transformer's Linear layer as exporters write it."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["z"])]
    nodes.append(helper.make_node(activation, ["z"], ["y"], domain=domain) if activation else
                 helper.make_node("Identity", ["z"], ["y"]))
    graph = helper.make_graph(nodes, "linear", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 16])],
                              [numpy_helper.from_array(_rand(8, 16), "w"), numpy_helper.from_array(_rand(16), "b")])
    opsets = [helper.make_opsetid("", 20)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets, ir_version=9)


@pytest.mark.parametrize("activation,domain,tf_op", [(None, "", None), ("Relu", "", "Relu"), ("Gelu", "", "Erfc"),
                                                     ("Gelu", "com.microsoft", "Erfc"), ("Tanh", "", "Tanh"),
                                                     ("Sigmoid", "", "Sigmoid")])
def test_linear_layer_keeps_bias_and_activation_on_the_2d_product_tf_fuses(activation, domain, tf_op):
    """A (..., K) x (K, N) product is one 2-D MatMul between reshapes; its bias and activation act before
    the reshape back, where TF's optimiser fuses MatMul + BiasAdd + activation into one kernel (with oneDNN,
    GELU too): a reshape in between leaves three kernels and two passes over the activations."""
    from bridge_converters.onnx_tf import build_program

    model = _linear_model(activation, domain)
    graph = build_program(model, use_variables=False, fuse=False).function.graph
    (bias,) = [op for op in graph.get_operations() if op.type == "BiasAdd"]
    assert bias.inputs[0].op.type == "MatMul" and bias.outputs[0].shape.rank == 2
    reached = {bias}
    while tf_op and not any(op.type == tf_op for op in reached):  # the activation, reached without a Reshape
        reached = {c for op in reached for c in op.outputs[0].consumers() if c.type != "Reshape"}
        assert reached, f"no {tf_op} on the 2-D sum"
    x = {"x": _rand(1, 6, 8)}
    np.testing.assert_allclose(run_tf(model, x)[0], run_reference(model, x, "onnxruntime")[0], atol=1e-5)


def test_batched_float_matmul_runs_as_batch_matmul_v3_and_stays_one_tflite_batch_matmul(tmp_path):
    """With oneDNN on, TF rewrites BatchMatMulV2 into a oneDNN call that costs far more than V3's Eigen
    kernel on attention-sized operands; TFLite's converter maps V3 to BATCH_MATMUL all the same."""
    a, b = _rand(2, 3, 4, 5), _rand(2, 3, 5, 6)
    model = make_node_model("MatMul", {"a": a, "b": b})
    types = tf_op_types(model)
    assert "BatchMatMulV3" in types and "BatchMatMulV2" not in types
    np.testing.assert_allclose(run_tf(model, {"a": a, "b": b})[0], a @ b, rtol=1e-5, atol=1e-6)
    assert tflite_builtins(model, tmp_path) == {"BATCH_MATMUL": 1}
