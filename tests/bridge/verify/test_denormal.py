"""Denormal or near-denormal inputs and activations are found and named."""

import numpy as np

from bridge.artifacts import open_artifact
from bridge.verify.denormal import NEAR_DENORMAL, denormal_warnings, scan_tensors, tensor_scale
from tests.bridge.verify.test_bench_rounds import write_dense_onnx


def test_tensor_scale_measures_median_magnitude_and_subnormal_share():
    healthy = tensor_scale("a", np.array([0.0, -0.5, 2.0, 1.0], np.float32))
    assert healthy.median_abs == 1.0 and healthy.subnormal_share == 0.0 and not healthy.flagged
    sub = np.full(1000, 1.0, np.float32)
    sub[:2] = np.float32(1e-40)  # subnormal in float32
    scale = tensor_scale("b", sub)
    assert scale.subnormal_share == 0.002 and scale.flagged
    assert not tensor_scale("c", np.array([1e-40], np.float64)).flagged  # not subnormal in float64
    tiny = tensor_scale("d", np.full(8, 1e-22, np.float32))  # normal, but every product is subnormal
    assert tiny.median_abs < NEAR_DENORMAL and tiny.flagged
    assert tensor_scale("ids", np.arange(4)) is None and tensor_scale("e", np.zeros(0, np.float32)) is None
    assert tensor_scale("zeros", np.zeros(4, np.float32)).flagged is False
    assert [s.name for s in scan_tensors({"b": sub, "d": np.full(8, 1e-22, np.float32), "ok": np.ones(3)})] == ["d", "b"]


def test_warnings_name_inputs_and_activations_of_the_onnx_model(tmp_path):
    feeds = {"x": np.random.default_rng(0).standard_normal((1, 64)).astype(np.float32)}
    healthy = open_artifact(write_dense_onnx(tmp_path / "ok.onnx"))
    assert denormal_warnings([healthy], feeds) == []
    vanishing = open_artifact(write_dense_onnx(tmp_path / "tiny.onnx", scale=1e-25))
    (warning,) = denormal_warnings([vanishing], feeds)
    assert warning.startswith("activations near the denormal range in 2 of 3 tensors (e.g. 'y'") or \
        warning.startswith("activations near the denormal range in 2 of 3 tensors (e.g. 'm'"), warning
    tiny_inputs = {"x": np.full((1, 64), 1e-41, np.float32)}
    warnings = denormal_warnings([healthy], tiny_inputs)
    assert warnings[0].startswith("inputs near the denormal range in 1 of 1 tensors (e.g. 'x'")
    assert "100.0% subnormal" in warnings[0]
