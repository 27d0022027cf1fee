import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import check_node

rng = np.random.default_rng(0)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16])
def test_quantize_per_tensor_saturates_and_rounds_half_even(dtype):
    x = np.array([-1e6, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.49, 1e6], np.float32)
    check_node("QuantizeLinear", {"x": x}, initializers={"s": np.array(1.0, np.float32), "z": np.array(2, dtype)})


def test_quantize_default_uint8_without_zero_point():
    check_node("QuantizeLinear", {"x": rng.standard_normal(6).astype(np.float32) * 100},
               initializers={"s": np.array(0.7, np.float32)}, opset=13)


def test_quantize_per_axis():
    x = rng.standard_normal((2, 3, 4)).astype(np.float32) * 10
    check_node("QuantizeLinear", {"x": x}, {"axis": 1},
               initializers={"s": np.array([0.1, 0.2, 0.3], np.float32), "z": np.array([0, 10, -10], np.int8)},
               opset=13)


def test_quantize_blocked_with_short_last_block():
    x = rng.standard_normal((2, 5)).astype(np.float32) * 10
    check_node("QuantizeLinear", {"x": x}, {"axis": 1, "block_size": 2},
               initializers={"s": rng.random((2, 3)).astype(np.float32) + 0.1,
                             "z": rng.integers(-5, 5, (2, 3), dtype=np.int16)}, opset=21)


def test_quantize_output_dtype():
    x = rng.standard_normal(5).astype(np.float32) * 300
    check_node("QuantizeLinear", {"x": x}, {"output_dtype": 5}, initializers={"s": np.array(0.5, np.float32)},
               opset=21)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32])
def test_dequantize(dtype):
    x = rng.integers(np.iinfo(dtype).min // 2, np.iinfo(dtype).max // 2, (2, 3), dtype=dtype)
    inits = {"s": np.array(0.25, np.float32)}
    if dtype != np.int32:
        inits["z"] = np.array(3, dtype)
    check_node("DequantizeLinear", {"x": x}, initializers=inits, opset=21)


def test_dequantize_per_axis_and_blocked():
    x = rng.integers(-128, 127, (3, 4), dtype=np.int8)
    check_node("DequantizeLinear", {"x": x}, {"axis": 0},
               initializers={"s": np.array([0.1, 0.2, 0.3], np.float32), "z": np.array([1, 2, 3], np.int8)}, opset=19)
    check_node("DequantizeLinear", {"x": x}, {"axis": 1, "block_size": 3},
               initializers={"s": rng.random((3, 2)).astype(np.float32)}, opset=21)


def test_dynamic_quantize():
    check_node("DynamicQuantizeLinear", {"x": rng.standard_normal((3, 4)).astype(np.float32) * 5}, n_outputs=3,
               opset=11)
    check_node("DynamicQuantizeLinear", {"x": rng.random((3, 4)).astype(np.float32) + 1}, n_outputs=3, opset=11)


@pytest.mark.parametrize("x_dtype,scale_dtype,attrs,opset", [
    (np.float16, np.float16, {}, 21),
    (np.float16, np.float32, {}, 21),
    (np.float32, np.float32, {"precision": 10}, 25),  # divide in float16
    (np.int32, np.float32, {}, 25),
])
def test_quantize_division_precision(x_dtype, scale_dtype, attrs, opset):
    x = (rng.standard_normal(64) * 40).astype(x_dtype)
    check_node("QuantizeLinear", {"x": x}, attrs, opset=opset,
               initializers={"s": np.array(0.37, scale_dtype), "z": np.array(3, np.int8)})
