import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import check_node, make_node_model, run_reference, run_tf

rng = np.random.default_rng(0)
REAL = rng.standard_normal((2, 8, 3, 1)).astype(np.float32)
COMPLEX = rng.standard_normal((2, 8, 3, 2)).astype(np.float32)


@pytest.mark.parametrize("x", [REAL, COMPLEX], ids=["real", "complex"])
@pytest.mark.parametrize("attrs", [
    {"axis": 1},
    {"axis": 2},
    {"axis": 1, "onesided": 1},
    {"axis": 1, "inverse": 1},
    {"axis": -2, "onesided": 1},
])
def test_dft_17(x, attrs):
    check_node("DFT", {"x": x}, attrs, opset=17, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("length", [5, 8, 11])
@pytest.mark.parametrize("attrs", [{}, {"onesided": 1}, {"inverse": 1}, {"inverse": 1, "onesided": 1}])
def test_dft_20_length(length, attrs):
    # dft_length truncates or zero-pads; an inverse one-sided transform reads length // 2 + 1 bins.
    x = COMPLEX if attrs.get("inverse") else REAL
    check_node("DFT", {"x": x}, attrs, opset=20, rtol=1e-4, atol=1e-5,
               initializers={"n": np.array(length, np.int64), "axis": np.array(1, np.int64)})


@pytest.mark.parametrize("axis", [1, 2, -2])
def test_dft_20_runtime_axis_and_length(axis):
    inputs = {"x": REAL, "n": np.array(6, np.int64), "axis": np.array(axis, np.int64)}
    check_node("DFT", inputs, {"onesided": 1}, opset=20, rtol=1e-4, atol=1e-5)


def test_dft_default_axis_and_irfft_default_length():
    check_node("DFT", {"x": COMPLEX}, {"inverse": 1, "onesided": 1}, opset=20, rtol=1e-4, atol=1e-5)


def test_dft_float64_over_unknown_sizes():
    x = rng.standard_normal((2, 7, 2)).astype(np.float64)
    model = make_node_model("DFT", {"x": x}, {"axis": 1}, opset=17)
    for dim in list(model.graph.input[0].type.tensor_type.shape.dim)[:2]:
        dim.dim_param = "s"
    np.testing.assert_allclose(run_tf(model, {"x": x})[0], run_reference(model, {"x": x})[0], atol=1e-12)


@pytest.mark.parametrize("x", [rng.standard_normal((2, 40, 1)).astype(np.float32),
                               rng.standard_normal((1, 33, 2)).astype(np.float32)], ids=["real", "complex"])
@pytest.mark.parametrize("onesided", [0, 1])
def test_stft_window(x, onesided):
    window = np.hanning(10).astype(np.float32)
    check_node("STFT", {"x": x, "step": np.array(4, np.int64), "window": window}, {"onesided": onesided},
               opset=17, rtol=1e-4, atol=1e-5)


def test_stft_frame_length_without_window():
    x = rng.standard_normal((2, 37, 1)).astype(np.float32)
    check_node("STFT", {"x": x, "step": np.array(5, np.int64), "frame_length": np.array(12, np.int64)},
               opset=17, rtol=1e-4, atol=1e-5, input_names=["x", "step", "", "frame_length"])


def test_stft_over_unknown_length():
    x = rng.standard_normal((1, 29, 1)).astype(np.float32)
    inputs = {"x": x, "step": np.array(3, np.int64), "window": np.hamming(8).astype(np.float32)}
    model = make_node_model("STFT", inputs, opset=17)
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "t"
    np.testing.assert_allclose(run_tf(model, inputs)[0], run_reference(model, inputs)[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("attrs", [{}, {"periodic": 0}, {"output_datatype": 11},
                                   {"periodic": 0, "output_datatype": 10}])
def test_windows(op, attrs):
    # The reference computes Hann and Hamming in the output type; float16 differs from float64 by its ULPs.
    tol = 2e-3 if attrs.get("output_datatype") == 10 else 1e-6
    check_node(op, {"size": np.array(11, np.int64)}, attrs, opset=17, rtol=tol, atol=tol)


@pytest.mark.parametrize("args", [(8, 16, 8192, 0.0, 4096.0), (5, 64, 16000, 80.0, 7600.0), (3, 7, 100, 10.0, 50.0)])
def test_mel_weight_matrix(args):
    mel, length, rate, low, high = args
    inputs = {"mel": np.array(mel, np.int32), "length": np.array(length, np.int32), "rate": np.array(rate, np.int32),
              "low": np.array(low, np.float32), "high": np.array(high, np.float32)}
    check_node("MelWeightMatrix", inputs, opset=17)
    check_node("MelWeightMatrix", inputs, {"output_datatype": 11}, opset=17)
