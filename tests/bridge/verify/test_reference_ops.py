"""The float64 truth's own Conv: the same numbers as onnx's reference Conv, without its dense dilated kernel."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from bridge.verify.noise import onnx_float64_outputs
from bridge.verify.reference_ops import conv

CASES = [  # x shape, w shape, attributes
    ((2, 4, 11), (6, 4, 3), {}),
    ((1, 4, 19), (4, 1, 3), {"group": 4, "dilations": [5], "pads": [2, 7], "strides": [2]}),
    ((2, 6, 9, 8), (4, 3, 3, 2), {"group": 2, "strides": [2, 1], "pads": [1, 0, 2, 1]}),
    ((1, 3, 10, 7), (5, 3, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2], "dilations": [2, 1]}),
    ((1, 3, 10, 7), (5, 3, 2, 4), {"auto_pad": "SAME_LOWER", "strides": [3, 2]}),
    ((1, 2, 5, 5), (3, 2, 3, 3), {"auto_pad": "VALID"}),
    ((1, 2, 4, 5, 6), (2, 1, 2, 3, 2), {"group": 2, "dilations": [1, 2, 2], "pads": [1, 0, 1, 0, 1, 1]}),
]


def _reference_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, attrs: dict) -> np.ndarray:
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, None)],
                              [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    return ReferenceEvaluator(helper.make_model(graph)).run(None, {"x": x})[0]


@pytest.mark.parametrize("xs,ws,attrs", CASES)
def test_conv_matches_onnx_reference(xs: tuple, ws: tuple, attrs: dict) -> None:
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    expected = _reference_conv(x, w, b, attrs)
    got = conv(x, w, b, attrs.get("auto_pad", "NOTSET"), attrs.get("dilations"), attrs.get("group", 1),
               attrs.get("pads"), attrs.get("strides"))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_conv_without_bias_keeps_float64() -> None:
    x, w = np.ones((1, 2, 4)), np.full((1, 2, 2), 0.5)
    y = conv(x, w)
    assert y.dtype == np.float64 and y.tolist() == [[[2.0, 2.0, 2.0]]]


def test_conv_window_wider_than_its_input_has_no_positions() -> None:
    y = conv(np.ones((1, 2, 3)), np.ones((2, 2, 3)), dilations=[4])  # spans 9 steps of 3
    assert y.shape == (1, 2, 0)


def test_float64_truth_of_a_widely_dilated_conv_stays_small() -> None:
    """A 3-tap conv with dilation 4096 over 128 channels and 9,000 steps: onnx's reference Conv would build a
    128 x 8193 x 808 float64 unfold (6.8 GB); the tap-by-tap Conv needs the input's size."""
    import resource

    rng = np.random.default_rng(1)
    w = (rng.standard_normal((128, 128, 3)) * 0.05).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], dilations=[4096])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 128, 9000])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 128, 808])],
                              [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    x = rng.standard_normal((1, 128, 9000)).astype(np.float32)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    y = onnx_float64_outputs(model, {"x": x})["y"]
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert y.dtype == np.float64 and y.shape == (1, 128, 808)
    x64, w64 = x.astype(np.float64)[0], w.astype(np.float64)
    expected = sum(w64[:, :, k] @ x64[:, k * 4096:k * 4096 + 808] for k in range(3))
    np.testing.assert_allclose(y[0], expected, rtol=1e-12, atol=1e-12)
    assert grown_mb < 500

