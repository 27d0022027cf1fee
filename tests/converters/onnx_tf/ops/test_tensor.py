import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from bridge.errors import UnsupportedError
from tests.converters.onnx_tf.ops.node_check import check_node, make_node_model, run_tf

rng = np.random.default_rng(0)
X = rng.standard_normal((2, 3)).astype(np.float32)


def _const_model(attrs, opset=21):
    node = helper.make_node("Constant", [], ["y"], **attrs)
    graph = helper.make_graph([node], "c", [], [helper.make_tensor_value_info("y", TensorProto.UNDEFINED, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("attrs,want", [
    ({"value": numpy_helper.from_array(X)}, X),
    ({"value_float": 2.5}, np.float32(2.5)),
    ({"value_floats": [1.0, 2.0]}, np.array([1.0, 2.0], np.float32)),
    ({"value_int": 7}, np.int64(7)),
    ({"value_ints": [1, 2, 3]}, np.array([1, 2, 3], np.int64)),
])
def test_constant_values(attrs, want):
    got = run_tf(_const_model(attrs), {})[0]
    assert got.dtype == np.asarray(want).dtype
    np.testing.assert_array_equal(got, want)


def test_constant_strings_and_sparse():
    got = run_tf(_const_model({"value_strings": ["a", "bc"]}), {})[0]
    assert [v.decode() for v in got] == ["a", "bc"]
    sparse = helper.make_sparse_tensor(numpy_helper.from_array(np.array([5.0, 6.0], np.float32), "v"),
                                       numpy_helper.from_array(np.array([1, 4], np.int64), "i"), [2, 3])
    want = np.array([[0, 5, 0], [0, 6, 0]], np.float32)
    np.testing.assert_array_equal(run_tf(_const_model({"sparse_value": sparse}), {})[0], want)
    sparse2d = helper.make_sparse_tensor(numpy_helper.from_array(np.array([5.0, 6.0], np.float32), "v"),
                                         numpy_helper.from_array(np.array([[0, 1], [1, 1]], np.int64), "i"), [2, 3])
    np.testing.assert_array_equal(run_tf(_const_model({"sparse_value": sparse2d}), {})[0], want)


@pytest.mark.parametrize("value", [None, np.array([3], np.int32), np.array([1.5], np.float16),
                                   np.array([True])])
def test_constant_of_shape(value):
    attrs = {} if value is None else {"value": numpy_helper.from_array(value)}
    check_node("ConstantOfShape", {}, attrs, initializers={"s": np.array([2, 3], np.int64)})
    check_node("ConstantOfShape", {}, attrs, initializers={"s": np.array([], np.int64)})


def test_constant_of_shape_dynamic():
    check_node("ConstantOfShape", {"s": np.array([2, 0, 3], np.int64)})


@pytest.mark.parametrize("attrs", [{}, {"k": 1}, {"k": -2}, {"dtype": TensorProto.INT32}, {"k": 5}])
@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (4, 2)])
def test_eye_like(attrs, shape):
    check_node("EyeLike", {"x": np.zeros(shape, np.float32)}, attrs)


def test_identity():
    check_node("Identity", {"x": X})


@pytest.mark.parametrize("to", [TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.INT32, TensorProto.INT8,
                                TensorProto.UINT8, TensorProto.BOOL, TensorProto.INT64])
def test_cast_from_float(to):
    x = np.array([[0.0, -0.0, 1.7, -2.9], [3.0, 0.5, -1.0, 100.25]], np.float32)
    check_node("Cast", {"x": x}, {"to": to}, runtime="onnxruntime")


def test_cast_bfloat16_round_trip():
    x = np.array([0.47892547, -3.3, np.nan, np.inf], np.float32)
    got = run_tf(make_node_model("Cast", {"x": x}, {"to": TensorProto.BFLOAT16}), {"x": x})[0]
    back = run_tf(make_node_model("Cast", {"x": got}, {"to": TensorProto.FLOAT}), {"x": got})[0]
    np.testing.assert_allclose(back, x, rtol=1e-2)


@pytest.mark.parametrize("src", [np.int32, np.int64, np.uint8, np.bool_, np.float16])
@pytest.mark.parametrize("to", [TensorProto.FLOAT, TensorProto.INT16, TensorProto.UINT32, TensorProto.BOOL])
def test_cast_between_types(src, to):
    x = np.array([0, 1, 3, 7], src) if src != np.bool_ else np.array([True, False, True, True])
    check_node("Cast", {"x": x}, {"to": to})


def test_cast_wraps_integers():
    got = check_node("Cast", {"x": np.array([200, -129, 300], np.int16)}, {"to": TensorProto.INT8})[0]
    np.testing.assert_array_equal(got, [-56, 127, 44])


def test_cast_legacy_string_to_attribute():
    node = helper.make_node("Cast", ["x"], ["y"], to="DOUBLE")
    graph = helper.make_graph([node], "c", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [2, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 1)])
    got = run_tf(model, {"x": X})[0]
    assert got.dtype == np.float64


def test_cast_strings():
    x = np.array(["1.5", "-INF", "nan", "1e-5", "+inf"], object)
    got = run_tf(make_node_model("Cast", {"x": x}, {"to": TensorProto.FLOAT}), {"x": x})[0]
    np.testing.assert_array_equal(got, np.array([1.5, -np.inf, np.nan, 1e-5, np.inf], np.float32))
    ints = np.array(["12", "-7"], object)
    got = run_tf(make_node_model("Cast", {"x": ints}, {"to": TensorProto.INT8}), {"x": ints})[0]
    assert got.dtype == np.int8 and got.tolist() == [12, -7]
    n = np.array([12, -7], np.int64)
    got = run_tf(make_node_model("Cast", {"x": n}, {"to": TensorProto.STRING}), {"x": n})[0]
    assert [v.decode() for v in got] == ["12", "-7"]
    with pytest.raises(UnsupportedError):
        run_tf(make_node_model("Cast", {"x": X}, {"to": TensorProto.STRING}), {"x": X})


def test_cast_like():
    check_node("CastLike", {"x": X, "like": np.zeros((1,), np.int32)})
    check_node("CastLike", {"x": np.array([1, 0, 2], np.int64), "like": np.zeros((1,), np.float16)})


@pytest.mark.parametrize("x,to", [
    (np.array([1.0, -2.5, np.inf], np.float32), TensorProto.INT32),
    (np.array([[1, -1]], np.int64), TensorProto.DOUBLE),
    (np.array([200, 3], np.uint8), TensorProto.INT8),
    (np.array([1.5, -0.0], np.float16), TensorProto.UINT16),
    (np.array([True, False]), TensorProto.UINT8),
    (np.array([1, 0], np.int8), TensorProto.BOOL),
])
def test_bit_cast(x, to):
    check_node("BitCast", {"x": x}, {"to": to}, opset=26)


def test_bit_cast_width_mismatch_is_unsupported():
    model = make_node_model("BitCast", {"x": X}, {"to": TensorProto.INT64}, opset=26)
    with pytest.raises(UnsupportedError):
        run_tf(model, {"x": X})


@pytest.mark.parametrize("opset,n_outputs", [(7, 1), (10, 2), (13, 2), (22, 1)])
def test_dropout_inference(opset, n_outputs):
    check_node("Dropout", {"x": X}, {"ratio": 0.3} if opset < 12 else {}, opset=opset, n_outputs=n_outputs)


def test_dropout_training_mode():
    x = np.ones((200, 50), np.float32)
    inits = {"r": np.array(0.25, np.float32), "t": np.array(True)}
    model = make_node_model("Dropout", {"x": x}, {"seed": 1}, n_outputs=2, opset=13, initializers=inits)
    y, mask = run_tf(model, {"x": x})
    assert mask.dtype == np.bool_ and 0.7 < mask.mean() < 0.8
    np.testing.assert_allclose(y, np.where(mask, x / 0.75, 0.0), rtol=1e-6)
    off = {"r": np.array(0.25, np.float32), "t": np.array(False)}
    check_node("Dropout", {"x": X}, n_outputs=2, opset=13, initializers=off)
    onnx.checker.check_model(model)
