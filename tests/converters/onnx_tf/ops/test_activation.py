import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import check_node, make_node_model, run_tf, tf_op_types, tflite_builtins

rng = np.random.default_rng(0)
X = (rng.standard_normal((2, 3, 4)) * 3).astype(np.float32)


@pytest.mark.parametrize("op,attrs,opset", [
    ("Relu", {}, 21), ("Sigmoid", {}, 21), ("Tanh", {}, 21),
    ("LeakyRelu", {}, 21), ("LeakyRelu", {"alpha": 0.3}, 21),
    ("Elu", {}, 21), ("Elu", {"alpha": 0.5}, 21),
    ("Selu", {}, 21), ("Selu", {"alpha": 2.0, "gamma": 3.0}, 21),
    ("Celu", {}, 21), ("Celu", {"alpha": 2.0}, 21),
    ("HardSigmoid", {}, 21), ("HardSigmoid", {"alpha": 0.5, "beta": 0.6}, 21),
    ("HardSwish", {}, 21), ("Softplus", {}, 21), ("Softsign", {}, 21),
    ("Gelu", {}, 21), ("Gelu", {"approximate": "tanh"}, 21),
    ("Mish", {}, 21), ("Swish", {}, 24), ("Swish", {"alpha": 0.7}, 24),
    ("ThresholdedRelu", {}, 21), ("ThresholdedRelu", {"alpha": 2.0}, 21),
    ("Shrink", {}, 21), ("Shrink", {"lambd": 1.5, "bias": 0.5}, 21),
])
def test_activation(op, attrs, opset):
    check_node(op, {"x": X}, attrs, opset=opset, rtol=1e-4, atol=1e-5)


def test_relu_int_and_shrink_int():
    check_node("Relu", {"x": np.array([-3, 0, 4], np.int32)}, opset=14)
    check_node("Shrink", {"x": np.arange(-5, 6, dtype=np.int8)}, {"lambd": 1.5, "bias": 1.5})


def test_activation_float64_and_float16():
    check_node("Elu", {"x": X.astype(np.float64)})
    check_node("HardSwish", {"x": X.astype(np.float16)}, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("slope", [
    np.array([0.1, 0.2, 0.3, 0.4], np.float32), np.array([[0.5], [0.1], [0.2]], np.float32),
    np.array([0.25], np.float32),
])
def test_prelu_broadcast(slope):
    check_node("PRelu", {"x": X, "slope": slope})


def test_prelu_legacy_channel_slope():
    # Before opset 7 a 1-D slope is per channel (axis 1).
    slope = np.array([0.1, 0.2, 0.3], np.float32)
    model = make_node_model("PRelu", {"x": X, "slope": slope}, opset=6)
    want = np.where(X < 0, X * slope[None, :, None], X)
    np.testing.assert_allclose(run_tf(model, {"x": X, "slope": slope})[0], want, rtol=1e-6)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_softmax_family(op, opset, axis):
    attrs = {} if axis is None else {"axis": axis}
    # onnx's reference evaluator lacks the pre-13 "coerce to 2D" semantics; ONNX Runtime has them.
    runtime = "onnxruntime" if opset < 13 else "reference"
    check_node(op, {"x": X}, attrs, opset=opset, rtol=1e-5, atol=1e-5, runtime=runtime)


def test_hardmax_ties_pick_first():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], np.float32)
    got = check_node("Hardmax", {"x": x}, opset=13)[0]
    np.testing.assert_array_equal(got, [[0, 1, 0], [1, 0, 0]])


def test_softmax_dynamic_batch():
    import onnx

    model = make_node_model("Softmax", {"x": X}, {"axis": 1}, opset=11)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.checker.check_model(model)
    want = np.exp(X.reshape(2, 12)) / np.exp(X.reshape(2, 12)).sum(1, keepdims=True)
    np.testing.assert_allclose(run_tf(model, {"x": X})[0], want.reshape(X.shape), rtol=1e-5)


@pytest.mark.parametrize("op,opset", [("Sigmoid", 21), ("Tanh", 21), ("Softmax", 21), ("LogSoftmax", 21),
                                      ("Gelu", 21), ("Mish", 21), ("Softplus", 21)])
def test_half_precision_rounds_once(op, opset):
    # float16 runs in float32 and rounds at the end: within the reference's own fp16 rounding error.
    check_node(op, {"x": X.astype(np.float16)}, opset=opset, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("alpha", [1.0, 1.702])
def test_swiglu(alpha):
    rng = np.random.default_rng(7)
    a = rng.standard_normal((2, 3, 8)).astype(np.float32)
    b = rng.standard_normal((2, 3, 8)).astype(np.float32)
    check_node("SwiGLU", {"a": a, "b": b}, {"alpha": alpha}, opset=28)


@pytest.mark.parametrize("shape,written_out", [((2, 4, 12, 12), True), ((1, 4, 128, 128), False)])
def test_small_last_axis_softmax_is_written_out_and_stays_one_tflite_softmax(tmp_path, shape, written_out):
    """Up to 16K elements, TF's oneDNN Softmax kernel costs more than exp(x - max) / sum in Eigen ops; above,
    it is the faster one. TFLite's converter makes either form one SOFTMAX builtin."""
    x = (np.random.default_rng(3).standard_normal(shape) * 4).astype(np.float32)
    model = make_node_model("Softmax", {"x": x}, {"axis": -1}, opset=13)
    types = tf_op_types(model)
    assert ("Softmax" not in types and {"Exp", "Max", "Sum", "RealDiv"} <= set(types)) == written_out
    assert ("Softmax" in types) == (not written_out)
    e = np.exp(x - x.max(-1, keepdims=True))
    np.testing.assert_allclose(run_tf(model, {"x": x})[0], e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-7)
    if written_out:
        assert tflite_builtins(model, tmp_path) == {"SOFTMAX": 1}
