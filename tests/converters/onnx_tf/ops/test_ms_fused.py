import numpy as np
import pytest

from tests.converters.onnx_tf.ops.ms_check import check_ms

rng = np.random.default_rng(0)


def _r(*shape):
    return rng.standard_normal(shape).astype(np.float32)


X, W, B, Z = _r(2, 3, 9, 9), _r(4, 3, 3, 3), _r(4), _r(2, 4, 9, 9)


@pytest.mark.parametrize("activation,params", [
    ("", []), ("Relu", []), ("Tanh", []), ("Sigmoid", []), ("LeakyRelu", [0.2]), ("Clip", [-0.5, 0.7]),
    ("HardSigmoid", [0.3, 0.4]),
])
def test_fused_conv(activation, params):
    attrs = {"pads": [1, 1, 1, 1], **({"activation": activation} if activation else {}),
             **({"activation_params": params} if params else {})}
    check_ms("FusedConv", {"x": X}, attrs, initializers={"w": W, "b": B})


def test_fused_conv_with_sum_and_stride():
    check_ms("FusedConv", {"x": X, "z": Z[..., ::2, ::2][..., :4, :4]},
             {"strides": [2, 2], "activation": "Relu"}, initializers={"w": W, "b": B}, input_names=["x", "w", "b", "z"])


@pytest.mark.parametrize("attrs", [
    {"activation": "Relu"},
    {"activation": "LeakyRelu", "activation_alpha": 0.1, "transB": 1, "alpha": 0.5, "beta": 2.0},
    {"activation": "HardSigmoid", "activation_alpha": 0.3, "activation_beta": 0.4},
])
def test_fused_gemm(attrs):
    b = _r(4, 6) if attrs.get("transB") else _r(6, 4)
    check_ms("FusedGemm", {"a": _r(3, 6)}, attrs, initializers={"b": b, "c": _r(4)})


@pytest.mark.parametrize("a_shape,b_shape,attrs", [
    ((2, 3, 4), (2, 4, 5), {}),
    ((2, 4, 3), (2, 4, 5), {"transA": 1, "alpha": 0.125}),
    ((3, 4), (2, 5, 4), {"transB": 1}),
    ((4, 2, 3), (2, 3, 5), {"transBatchA": 1}),
    ((2, 3, 4), (5, 2, 4), {"transBatchB": 1, "transB": 1}),
    ((2, 3, 4, 5), (5, 2, 3, 6), {"transBatchB": 1}),
])
def test_fused_matmul(a_shape, b_shape, attrs):
    check_ms("FusedMatMul", {"a": _r(*a_shape), "b": _r(*b_shape)}, attrs)


def test_transpose_matmul():  # FusedMatMul's older name, without the batch transposes
    check_ms("TransposeMatMul", {"a": _r(2, 4, 3), "b": _r(5, 4)}, {"transA": 1, "transB": 1, "alpha": 2.0})
