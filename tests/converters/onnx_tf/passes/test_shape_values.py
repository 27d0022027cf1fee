"""passes/shape_values.py: entry-by-entry values of shape vectors with run-time dims in them."""

import numpy as np
import onnx
import onnx.reference
from onnx import TensorProto, helper

from bridge_converters.onnx_tf.context import parse_attributes
from bridge_converters.onnx_tf.passes.shape_values import DimOf, Partial, evaluate, from_array

B = DimOf("x", 0)  # the run-time batch of x


def _eval(op, inputs, dims=None, opset=17, **attrs):
    node = helper.make_node(op, [f"i{k}" if p is not None else "" for k, p in enumerate(inputs)], ["out"], **attrs)
    return evaluate(node, parse_attributes(node), opset, inputs, lambda i: dims)


def _ints(*values):
    return from_array(np.asarray(values, np.int64))


def test_shape_names_the_run_time_dims_and_slices_like_onnx():
    node = helper.make_node("Shape", ["x"], ["s"], start=1, end=-1)
    got = evaluate(node, parse_attributes(node), 15, [None], lambda i: [None, 3, None, 7])
    assert got == Partial((3, DimOf("x", 2)), "int64")
    whole = evaluate(helper.make_node("Shape", ["x"], ["s"]), {}, 13, [None], lambda i: [None, 3])
    assert whole.entries == (B, 3) and not whole.known


def test_gather_slice_concat_unsqueeze_squeeze_keep_each_entry():
    s = Partial((B, 4, 6, 6), "int64")
    assert _eval("Gather", [s, from_array(np.int64(-1))], axis=0) == Partial((6,), "int64", scalar=True)
    assert _eval("Gather", [s, _ints(0, 2)], axis=0).entries == (B, 6)
    assert _eval("Slice", [s, _ints(0), _ints(2), _ints(0)]).entries == (B, 4)
    assert _eval("Slice", [s, _ints(-1), _ints(-(2**63)), _ints(0), _ints(-1)]).entries == (6, 6, 4, B)
    batch = _eval("Unsqueeze", [Partial((B,), "int64", scalar=True), _ints(0)])
    assert batch == Partial((B,), "int64")
    assert _eval("Concat", [batch, _ints(-1, 64)], axis=0).entries == (B, -1, 64)
    assert _eval("Squeeze", [_ints(5), _ints(0)]) == Partial((5,), "int64", scalar=True)
    assert _eval("Gather", [s, _ints(4)], axis=0) is None  # out of range: ONNX would fail, nothing is claimed


def test_arithmetic_is_onnxs_on_known_entries_and_keeps_a_dim_only_through_identities():
    s = Partial((B, 7, -7), "int64")
    # integer Div truncates toward zero, as ONNX Runtime's and onnx's reference Div do (numpy's // floors)
    halves = _eval("Div", [s, from_array(np.int64(2))])
    assert halves.entries == (None, 3, -3)
    reference = onnx.reference.ReferenceEvaluator(helper.make_model(helper.make_graph(
        [helper.make_node("Div", ["a", "b"], ["c"])], "g",
        [helper.make_tensor_value_info("a", TensorProto.INT64, [2]),
         helper.make_tensor_value_info("b", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("c", TensorProto.INT64, [2])])))
    assert reference.run(None, {"a": np.array([7, -7]), "b": np.array(2)})[0].tolist() == [3, -3]
    assert _eval("Mul", [s, from_array(np.int64(1))]).entries == (B, 7, -7)
    assert _eval("Add", [from_array(np.int64(0)), s]).entries == (B, 7, -7)
    assert _eval("Mul", [s, from_array(np.int64(2))]).entries == (None, 14, -14)
    assert _eval("Sub", [from_array(np.int64(0)), s]).entries[0] is None  # 0 - B is not B
    assert _eval("Add", [s, from_array(np.float32(1))]) is None  # mixed types: not ONNX, nothing claimed


def test_float_chains_round_as_float32_and_casts_truncate():
    h = _eval("Cast", [Partial((B, 14), "int64")], to=TensorProto.FLOAT)
    assert h == Partial((None, 14.0), "float32")  # a run-time dim does not survive a float cast
    scaled = _eval("Div", [h, from_array(np.float32(0.3))])
    assert scaled.entries[1] == float(np.float32(14) / np.float32(0.3))
    back = _eval("Cast", [_eval("Floor", [scaled])], to=TensorProto.INT64)
    assert back == Partial((None, 46), "int64")
    assert _eval("Cast", [from_array(np.float32([-2.7, 2.7]))], to=TensorProto.INT32).entries == (-2, 2)
    assert _eval("Cast", [Partial((B,), "int64")], to=TensorProto.INT32).entries == (B,)
    root = _eval("Sqrt", [from_array(np.float32([196.0]))])
    assert root.known and root.array().dtype == np.float32 and root.array().tolist() == [14.0]


def test_only_short_numeric_vectors_are_shape_values():
    assert from_array(np.zeros((2, 2), np.int64)) is None
    assert from_array(np.arange(17)) is None
    assert from_array(np.array(["a"])) is None
    assert from_array(np.int64(3)).array().shape == ()
    node = helper.make_node("Gather", ["a", "b"], ["c"], domain="com.microsoft")
    assert evaluate(node, {}, 1, [_ints(1, 2), _ints(0)], lambda i: None) is None
