import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import check_node, make_node_model, run_tf
from tests.converters.onnx_tf.ops.test_shape import check_dynamic

rng = np.random.default_rng(0)
X = rng.standard_normal((4, 5, 6)).astype(np.float32)
I64 = np.int64
BIG = np.iinfo(np.int64).max


@pytest.mark.parametrize("starts,ends,axes,steps", [
    ([0, 1], [3, 4], [0, 1], [1, 1]),
    ([-1], [-BIG], [1], [-1]),          # negative step running past the start
    ([10], [-100], [2], [-2]),          # out-of-range start clamps to the last element
    ([-3, 1], [BIG, 100], [-1, 0], [2, 1]),
    ([3], [1], [0], [1]),               # empty
    ([1], [-1], None, None),
    ([4], [0], [2], [-1]),
])
def test_slice(starts, ends, axes, steps):
    inputs = {"starts": np.array(starts, I64), "ends": np.array(ends, I64)}
    names = ["x", "starts", "ends"]
    if axes is not None:
        inputs["axes"] = np.array(axes, I64)
        names.append("axes")
    if steps is not None:
        inputs["steps"] = np.array(steps, I64)
        names.append("steps")
    check_node("Slice", {"x": X, **inputs}, input_names=names)
    check_node("Slice", {"x": X}, initializers=inputs, input_names=names)
    check_dynamic("Slice", {"x": X, **inputs}, input_names=names)


def test_slice_v1_attributes():
    check_node("Slice", {"x": X}, {"starts": [1, -2], "ends": [BIG, -1], "axes": [0, 2]}, opset=9)


@pytest.mark.parametrize("attrs,sizes,n", [
    ({"axis": 1}, [2, 3], 2),
    ({"axis": -1}, None, 3),
    ({"axis": 1, "num_outputs": 2}, None, 2),   # uneven: 3 + 2
    ({"axis": 2, "num_outputs": 4}, None, 4),   # ceil(6 / 4) = 2: 2 + 2 + 2 + 0
])
def test_split(attrs, sizes, n):
    opset = 18 if "num_outputs" in attrs else 13
    if sizes is None:
        check_node("Split", {"x": X}, attrs, n_outputs=n, opset=opset)
        check_dynamic("Split", {"x": X}, attrs, n_outputs=n, opset=opset)
    else:
        split = np.array(sizes, I64)
        check_node("Split", {"x": X}, attrs, n_outputs=n, opset=opset, initializers={"split": split})
        check_node("Split", {"x": X, "split": split}, attrs, n_outputs=n, opset=opset)
        check_node("Split", {"x": X}, {**attrs, "split": sizes}, n_outputs=n, opset=11)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
@pytest.mark.parametrize("pads", [[0, 2, 1, 0, 1, 2], [1, 0, 0, 2, 3, 0], [0, -1, 1, 1, 0, -2], [0, -1, 0, 0, 1, 0]])
def test_pad(mode, pads):
    x = X[:3, :4, :4]
    pads_a = np.array(pads, I64)
    value = np.array(1.5, np.float32)
    if any(p < 0 for p in pads):  # onnx's reference (numpy.pad) rejects negative pads; ORT crops
        check_node("Pad", {"x": x, "pads": pads_a, "v": value}, {"mode": mode}, runtime="onnxruntime")
        check_node("Pad", {"x": x}, {"mode": mode}, initializers={"pads": pads_a, "v": value}, runtime="onnxruntime")
        return
    check_node("Pad", {"x": x}, {"mode": mode}, initializers={"pads": pads_a, "v": value})
    check_node("Pad", {"x": x, "pads": pads_a, "v": value}, {"mode": mode})
    check_dynamic("Pad", {"x": x, "pads": pads_a, "v": value}, {"mode": mode})


@pytest.mark.parametrize("axes", [[1], [-1, 0]])
def test_pad_axes(axes):
    x = X[:3, :4, :4]
    pads = np.array([1, 2] * len(axes), I64)
    names = ["x", "pads", "", "axes"]
    check_node("Pad", {"x": x}, {"mode": "edge"}, initializers={"pads": pads, "axes": np.array(axes, I64)},
               input_names=names)
    check_dynamic("Pad", {"x": x, "pads": pads, "axes": np.array(axes, I64)}, {"mode": "constant"},
                  input_names=names)


def test_pad_v2_attributes():
    check_node("Pad", {"x": X}, {"pads": [0, 1, 0, 1, 0, 2], "value": 2.0}, opset=2)
    check_node("Pad", {"x": X}, {"pads": [0, 1, 0, 1, 0, 2], "mode": "edge"}, opset=2)


def test_pad_int():
    x = np.arange(12, dtype=np.int32).reshape(3, 4)
    check_node("Pad", {"x": x}, {"pads": [1, 0, 0, 1], "value": 7.0}, opset=2)
    check_node("Pad", {"x": x}, {"mode": "reflect"}, initializers={"pads": np.array([2, 1, 0, 3], I64)})


@pytest.mark.parametrize("shape,axes", [([3, 8], None), ([2, 3, 7], None), ([5], [-1]), ([7, 2], [2, 0])])
def test_center_crop_pad(shape, axes):
    x = X[:, :, :5]
    attrs = {} if axes is None else {"axes": axes}
    if len(shape) == 2 and axes is None:
        x = X[0, :, :5]
    check_node("CenterCropPad", {"x": x, "shape": np.array(shape, I64)}, attrs)
    check_dynamic("CenterCropPad", {"x": x, "shape": np.array(shape, I64)}, attrs)


@pytest.mark.parametrize("upper", [0, 1])
@pytest.mark.parametrize("k", [None, 0, 2, -1, -7])
def test_trilu(upper, k):
    if k is None:
        check_node("Trilu", {"x": X}, {"upper": upper})
        return
    check_node("Trilu", {"x": X, "k": np.array(k, I64)}, {"upper": upper})
    check_dynamic("Trilu", {"x": X, "k": np.array(k, I64)}, {"upper": upper})


@pytest.mark.parametrize("batch_axis,time_axis", [(0, 1), (1, 0)])
def test_reverse_sequence(batch_axis, time_axis):
    x = rng.standard_normal((4, 4, 2)).astype(np.float32)
    lens = np.array([4, 1, 3, 2], I64)
    attrs = {"batch_axis": batch_axis, "time_axis": time_axis}
    check_node("ReverseSequence", {"x": x, "lens": lens}, attrs)


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_compress(axis):
    cond = np.array([True, False, True])  # shorter than every axis: the rest is not selected
    attrs = {} if axis is None else {"axis": axis}
    check_node("Compress", {"x": X, "c": cond}, attrs)
    check_dynamic("Compress", {"x": X, "c": cond}, attrs)


@pytest.mark.parametrize("x", [
    np.array([[1, 0], [0, 3]], np.int32), np.array([0.0, 2.0, 0.0], np.float32), np.array([[True, False]]),
    np.zeros((2, 2), np.float32),
])
def test_non_zero(x):
    check_node("NonZero", {"x": x})


def test_non_zero_scalar():
    x = np.array(5.0, np.float32)
    assert run_tf(make_node_model("NonZero", {"x": x}), {"x": x})[0].shape == (1, 1)


def test_slice_to_the_end_stays_within_int32_for_tflite():
    """Exporters write INT64_MAX for "to the end"; the bound handed to TF must survive narrowing to int32."""
    import tensorflow as tf

    from tests.converters.onnx_tf.ops.node_check import make_node_model

    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    big = np.iinfo(np.int64).max
    model = make_node_model("Slice", {"x": x}, initializers={
        "starts": np.array([1], np.int64), "ends": np.array([big], np.int64), "axes": np.array([-1], np.int64)}, opset=13)
    from bridge_converters.onnx_tf import build_program

    program = build_program(model, use_variables=False)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([program.function], program.module)
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=converter.convert())
    runner = interpreter.get_signature_runner()
    (out,) = runner(x=x).values()
    np.testing.assert_array_equal(out, x[..., 1:])
