import numpy as np
import pytest
from scipy.special import erf

from tests.converters.onnx_tf.ops.ms_check import check_ms

rng = np.random.default_rng(0)
X = (rng.standard_normal((2, 5, 8)) * 3).astype(np.float32)
BIAS = rng.standard_normal(8).astype(np.float32)


def _gelu(x):
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def test_gelu():
    check_ms("Gelu", {"x": X})


def test_bias_gelu():
    check_ms("BiasGelu", {"x": X, "b": BIAS})


@pytest.mark.parametrize("with_bias", [False, True])
def test_fast_gelu(with_bias):
    inputs = {"x": X, "b": BIAS} if with_bias else {"x": X}
    got = check_ms("FastGelu", inputs)[0]
    # FastGelu is the tanh approximation, not the exact GELU: a few 1e-4 apart near |x| ~ 2
    exact = _gelu(X + BIAS if with_bias else X)
    assert 1e-5 < np.abs(got - exact).max() < 1e-2


@pytest.mark.parametrize("attrs", [{}, {"alpha": 1.0}])
def test_quick_gelu(attrs):
    check_ms("QuickGelu", {"x": X}, attrs)


def test_bias_add():
    # CUDA-only in ORT: checked against the documented formula X + bias + skip
    skip = rng.standard_normal(X.shape).astype(np.float32)
    check_ms("BiasAdd", {"x": X, "b": BIAS, "s": skip}, expected=[X + BIAS + skip])


def test_bias_split_gelu():
    # CUDA-only in ORT: (X + bias) halves, left * gelu(right)
    s = X + BIAS
    check_ms("BiasSplitGelu", {"x": X, "b": BIAS}, expected=[(s[..., :4] * _gelu(s[..., 4:])).astype(np.float32)])


def test_bias_dropout_inference():
    residual = rng.standard_normal(X.shape).astype(np.float32)
    check_ms("BiasDropout", {"x": X, "b": BIAS, "r": residual}, n_outputs=2,
             expected=[X + BIAS + residual, np.ones(X.shape, bool)])


def test_bias_dropout_training_is_refused():
    from bridge.errors import UnsupportedError

    with pytest.raises(UnsupportedError, match="training_mode"):
        check_ms("BiasDropout", {"x": X, "b": BIAS, "t": np.array(True)}, input_names=["x", "b", "", "", "t"],
                 expected=[X])
