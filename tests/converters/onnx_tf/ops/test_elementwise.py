import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from bridge_converters.onnx_tf import build_program
from tests.converters.onnx_tf.ops.node_check import check_node, make_node_model, run_tf, tflite_builtins

rng = np.random.default_rng(0)
A = rng.standard_normal((2, 3, 4)).astype(np.float32)
B = rng.standard_normal((3, 1)).astype(np.float32)
POS = rng.uniform(0.5, 2.0, (2, 3)).astype(np.float32)
UNIT = rng.uniform(-0.9, 0.9, (2, 3)).astype(np.float32)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint8, np.int8])
def test_arith_broadcast(op, dtype):
    a = (rng.integers(1, 9, (2, 3, 4)) * (1 if dtype == np.uint8 else rng.choice([-1, 1], (2, 3, 4)))).astype(dtype)
    b = rng.integers(1, 4, (3, 1)).astype(dtype)
    check_node(op, {"a": a, "b": b})


def test_integer_div_truncates():
    a = np.array([7, -7, 7, -7], np.int64)
    b = np.array([2, 2, -2, -2], np.int64)
    np.testing.assert_array_equal(check_node("Div", {"a": a, "b": b})[0], [3, -3, -3, 3])


@pytest.mark.parametrize("source,divisor", [(onnx.TensorProto.INT32, [3, -2, 5]), (onnx.TensorProto.INT16, [-1, 2, 7])])
def test_int64_division_of_values_int32_holds_is_a_tflite_builtin(tmp_path, source, divisor):
    """YOLO26's end-to-end head divides TopK's int64 indices by the class count: int64 values cast from a
    narrower type divide in int32 (TFLite's DIV) instead of Flex TruncateDiv, still truncating; -1 divides
    only what int16 held (INT32_MIN / -1 overflows int32)."""
    nodes = [helper.make_node("Cast", ["a"], ["wide"], to=onnx.TensorProto.INT64),
             helper.make_node("Div", ["wide", "b"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("a", source, [2, 3])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.INT64, [2, 3])],
                              [numpy_helper.from_array(np.array(divisor, np.int64), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    a = np.array([[7, -7, 9], [-32768, 32767, -1]], helper.tensor_dtype_to_np_dtype(source))
    np.testing.assert_array_equal(run_tf(model, {"a": a})[0], np.trunc(a / np.array(divisor)).astype(np.int64))
    assert tflite_builtins(model, tmp_path).get("DIV") == 1


def test_int64_division_that_int32_may_not_hold_stays_int64():
    a, b = np.array([2**40 + 7, -(2**40) - 7], np.int64), np.array([3, 3], np.int64)
    model = make_node_model("Div", {"a": a, "b": b})
    program = build_program(model, use_variables=False)
    ops = {op.type for op in program.function.graph.get_operations()}
    assert "TruncateDiv" in ops and "Cast" not in ops
    got = program.function(a, b)[program.output_map["out_0"]].numpy()
    np.testing.assert_array_equal(got, [366503875927, -366503875927])


@pytest.mark.parametrize("op", ["Add", "Mul", "Pow"])
def test_legacy_broadcast_axis(op):
    # Opset 6: B of shape (3,) aligned to A's axis 1 only with broadcast=1, axis=1.
    a = rng.uniform(0.5, 2.0, (2, 3, 4)).astype(np.float32)
    b = rng.uniform(0.5, 2.0, (3,)).astype(np.float32)
    model = make_node_model(op, {"a": a, "b": b}, {"broadcast": 1, "axis": 1}, opset=6)
    want = {"Add": np.add, "Mul": np.multiply, "Pow": np.power}[op](a, b[None, :, None])
    np.testing.assert_allclose(run_tf(model, {"a": a, "b": b})[0], want, rtol=1e-5)


@pytest.mark.parametrize("fmod", [0, 1])
@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.float32, np.float16, np.float64])
def test_mod_signs(fmod, dtype):
    a = np.array([-4, 7, 5, 4, -7, 8], dtype)
    b = np.array([2, -3, 8, -2, 3, 5], dtype)
    check_node("Mod", {"a": a, "b": b}, {"fmod": fmod}, opset=13)


def test_mod_unsigned_and_float_edges():
    check_node("Mod", {"a": np.array([5, 7, 255], np.uint8), "b": np.array([3, 7, 4], np.uint8)}, opset=13)
    a = np.array([0.0, -0.0, np.inf, 3.0, -3.0, 3.0, np.nan, 5.0], np.float32)
    b = np.array([-2.0, 2.0, 2.0, np.inf, np.inf, 0.0, 1.0, -np.inf], np.float32)
    got = check_node("Mod", {"a": a, "b": b}, opset=13)[0]
    np.testing.assert_array_equal(np.signbit(got[:2]), [True, False])


@pytest.mark.parametrize("base,exp", [
    (np.float32, np.float32), (np.float32, np.int64), (np.int32, np.float32), (np.int64, np.int64),
    (np.float32, np.uint32), (np.int32, np.int32),
])
def test_pow_mixed_types(base, exp):
    x = np.array([1, 2, 3, 4], base)
    y = np.array([2, 3, 1, 0], exp) if np.dtype(exp).kind != "f" else np.array([2.0, 0.5, 1.5, 3.0], exp)
    check_node("Pow", {"x": x, "y": y}, opset=15)


@pytest.mark.parametrize("op,x", [
    ("Neg", A), ("Abs", A), ("Reciprocal", POS), ("Sqrt", POS), ("Exp", A), ("Log", POS), ("Ceil", A),
    ("Floor", A), ("Sign", A), ("Erf", A), ("Sin", A), ("Cos", A), ("Tan", UNIT), ("Asin", UNIT),
    ("Acos", UNIT), ("Atan", A), ("Sinh", A), ("Cosh", A), ("Asinh", A), ("Acosh", POS + 1), ("Atanh", UNIT),
    ("Abs", np.array([[1, 200, 0]], np.uint8)), ("Sign", np.array([[-3, 0, 5]], np.int32)),
    ("Sign", np.array([[0, 9]], np.uint16)), ("Neg", np.array([[-3, 4]], np.int64)),
])
def test_unary(op, x):
    check_node(op, {"x": x})


def test_round_half_to_even():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 2.3, -2.7], np.float32)
    np.testing.assert_array_equal(check_node("Round", {"x": x})[0], [0, 2, 2, -0.0, -2, 2, -3])


@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
def test_variadic_broadcast(op):
    c = rng.standard_normal((4,)).astype(np.float32)
    check_node(op, {"a": A, "b": B, "c": c})
    check_node(op, {"a": A})


@pytest.mark.parametrize("op", ["Max", "Min"])
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.uint16, np.uint32, np.uint64, np.int64])
def test_max_min_ints(op, dtype):
    check_node(op, {"a": np.array([1, 9, 3], dtype), "b": np.array([4, 2, 3], dtype)})


def test_max_propagates_nan():
    check_node("Max", {"a": np.array([np.nan, 1.0], np.float32), "b": np.array([1.0, np.nan], np.float32)})


@pytest.mark.parametrize("lo,hi", [(-0.5, 0.5), (0.5, -0.5), (None, 0.2), (-0.2, None), (None, None)])
def test_clip_inputs(lo, hi):
    inits = {}
    names = ["x", "", ""]
    if lo is not None:
        inits["lo"], names[1] = np.array(lo, np.float32), "lo"
    if hi is not None:
        inits["hi"], names[2] = np.array(hi, np.float32), "hi"
    check_node("Clip", {"x": A}, initializers=inits, input_names=names, opset=13)


def test_clip_integer_and_dynamic_bounds():
    x = np.array([-100, -3, 0, 5, 120], np.int8)
    check_node("Clip", {"x": x, "lo": np.array(-5, np.int8), "hi": np.array(6, np.int8)}, opset=13)


def test_clip_attributes_opset6():
    model = make_node_model("Clip", {"x": A}, {"min": -0.3, "max": 0.4}, opset=6)
    np.testing.assert_allclose(run_tf(model, {"x": A})[0], np.clip(A, -0.3, 0.4))
    model = make_node_model("Clip", {"x": A}, {"min": -0.3}, opset=6)
    np.testing.assert_allclose(run_tf(model, {"x": A})[0], np.maximum(A, -0.3))


@pytest.mark.parametrize("attrs", [{}, {"detect_positive": 0}, {"detect_negative": 0},
                                   {"detect_positive": 0, "detect_negative": 0}])
def test_is_inf(attrs):
    x = np.array([np.inf, -np.inf, np.nan, 1.0], np.float32)
    check_node("IsInf", {"x": x}, attrs)


def test_is_nan():
    check_node("IsNaN", {"x": np.array([np.nan, np.inf, 0.0], np.float32)})
    check_node("IsNaN", {"x": np.array([np.nan, 1.0], np.float16)})


def test_det():
    check_node("Det", {"x": rng.standard_normal((2, 3, 3)).astype(np.float32)}, rtol=1e-4, atol=1e-5)


def test_dynamic_dims_convert():
    # Unknown batch/sequence dims must convert: legacy broadcast and Mod build shapes at run time.
    a = rng.uniform(0.5, 2.0, (2, 3, 4)).astype(np.float32)
    b = rng.uniform(0.5, 2.0, (3,)).astype(np.float32)
    model = make_node_model("Sub", {"a": a, "b": b}, {"broadcast": 1, "axis": 1}, opset=6)
    for dim in (0, 2):
        model.graph.input[0].type.tensor_type.shape.dim[dim].dim_param = f"d{dim}"
    np.testing.assert_allclose(run_tf(model, {"a": a, "b": b})[0], a - b[None, :, None], rtol=1e-6)
    c = -rng.uniform(0.5, 2.0, (4,)).astype(np.float32)
    model = make_node_model("Mod", {"a": a, "c": c}, opset=13)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "n"
    np.testing.assert_allclose(run_tf(model, {"a": a, "c": c})[0], np.mod(a, c), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["Exp", "Sin", "Erf", "Sqrt"])
def test_half_precision_unary(op):
    check_node(op, {"x": POS.astype(np.float16)}, rtol=2e-3, atol=2e-3)
    check_node("Pow", {"x": POS.astype(np.float16), "y": UNIT.astype(np.float16)}, rtol=2e-3, atol=2e-3)


def test_erf_on_integers_computes_wide_and_truncates():
    x = np.array([-3, -1, 0, 1, 2], np.int64)
    from tests.converters.onnx_tf.ops.node_check import make_node_model, run_tf

    got = run_tf(make_node_model("Erf", {"x": x}), {"x": x})[0]
    np.testing.assert_array_equal(got, np.array([0, 0, 0, 0, 0], np.int64))  # |erf| < 1 truncates to 0
    assert got.dtype == np.int64


@pytest.mark.parametrize("shape,guarded", [((24, 172), True), ((512, 256), False)])
def test_small_silu_hides_its_sigmoid_from_the_onednn_swish_fusion_and_stays_logistic_mul(tmp_path, shape, guarded):
    """x * Sigmoid(x): up to 64K elements the Sigmoid reads x through an EnsureShape, which TF's optimiser
    does not see through (its oneDNN Swish costs ~115 us more a call there) and TFLite's converter drops."""
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Mul", ["x", "s"], ["y"])],
                              "silu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    ops = build_program(model, use_variables=False).function.graph.get_operations()
    (sigmoid,) = [op for op in ops if op.type == "Sigmoid" and op.outputs[0].consumers()]
    assert (sigmoid.inputs[0].op.type == "EnsureShape") == guarded
    x = (np.random.default_rng(5).standard_normal(shape) * 6).astype(np.float32)
    np.testing.assert_allclose(run_tf(model, {"x": x})[0], x / (1 + np.exp(-x)), rtol=1e-6, atol=1e-6)
    if guarded:
        assert tflite_builtins(model, tmp_path) == {"LOGISTIC": 1, "MUL": 1}


def test_mul_of_a_static_and_a_dynamic_operand_still_converts():
    """The SiLU check reads static sizes: an operand of unknown shape beside a static one is a plain Mul."""
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Mul", ["a", "b"], ["y"])], "mul",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [3]),
                               helper.make_tensor_value_info("b", TensorProto.FLOAT, ["n"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    a, b = np.array([1, 2, 3], np.float32), np.array([2], np.float32)
    np.testing.assert_array_equal(run_tf(model, {"a": a, "b": b})[0], a * b)


def test_mul_by_a_weight_variable_converts():
    """A weight of 64 elements or more is a tf.Variable, which has no graph op for the SiLU check to read
    (the PP-OCRv6 recogniser's LayerNorm scale, Mul(x, weight), raised here)."""
    import tensorflow as tf
    from onnx import TensorProto, helper, numpy_helper

    c = np.linspace(-2, 2, 64).astype(np.float32)
    graph = helper.make_graph([helper.make_node("Mul", ["x", "c"], ["y"]), helper.make_node("Mul", ["c", "x"], ["z"])],
                              "mul", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64])],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, [64]) for n in ("y", "z")],
                              [numpy_helper.from_array(c, "c")])
    program = build_program(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    x = np.arange(64, dtype=np.float32)
    result = program.function(tf.constant(x))
    for name in ("y", "z"):
        np.testing.assert_array_equal(result[program.output_map[name]].numpy(), x * c)
