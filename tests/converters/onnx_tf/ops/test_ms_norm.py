import numpy as np
import pytest

from bridge_converters.onnx_tf.registry import OPS
from tests.converters.onnx_tf.ops.ms_check import check_ms

rng = np.random.default_rng(0)


def _r(*shape, dtype=np.float32):
    return (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)


X, SKIP, GAMMA, BETA, BIAS = _r(2, 5, 16), _r(2, 5, 16), _r(16), _r(16), _r(16)


@pytest.mark.parametrize("skip,extra,names", [
    (SKIP, {"beta": BETA, "bias": BIAS}, ["x", "skip", "gamma", "beta", "bias"]),
    (SKIP, {}, ["x", "skip", "gamma"]),
    (SKIP[:1], {"beta": BETA}, ["x", "skip", "gamma", "beta"]),    # (1, S, D) skip broadcasts
    (SKIP[0], {"bias": BIAS}, ["x", "skip", "gamma", "", "bias"]),  # (S, D)
])
def test_skip_layer_norm(skip, extra, names):
    initializers = {"gamma": GAMMA, **extra}
    check_ms("SkipLayerNormalization", {"x": X, "skip": skip}, {"epsilon": 1e-5}, initializers=initializers,
             input_names=names, outputs=["y", "", "", "sum"])


def test_skip_layer_norm_default_epsilon_and_stats():
    # ORT's CPU kernel fills mean and inv_std_var only on request; both are (B, S, 1)
    check_ms("SkipLayerNormalization", {"x": X, "skip": SKIP}, initializers={"gamma": GAMMA, "beta": BETA},
             input_names=["x", "skip", "gamma", "beta"], n_outputs=4)


@pytest.mark.parametrize("with_bias", [False, True])
def test_skip_simplified_layer_norm(with_bias):
    inits = {"gamma": GAMMA, **({"bias": BIAS} if with_bias else {})}
    check_ms("SkipSimplifiedLayerNormalization", {"x": X, "skip": SKIP}, {"epsilon": 1e-6}, initializers=inits,
             outputs=["y", "", "", "sum"])


@pytest.mark.parametrize("axis", [-1, 1])
def test_ort_layer_norm_at_old_opsets(axis):
    # ORT's optimisers write LayerNormalization into opset-13 models, where onnx has no such op
    check_ms("LayerNormalization", {"x": X}, {"axis": axis, "epsilon": 1e-5}, initializers={"s": GAMMA if axis == -1 else _r(5, 16),
             "b": BETA if axis == -1 else _r(5, 16)}, domain="", opset=13, n_outputs=3)


def test_simplified_layer_norm():
    check_ms("SimplifiedLayerNormalization", {"x": X}, {"epsilon": 1e-6}, initializers={"s": GAMMA}, domain="",
             opset=14, n_outputs=2)


def test_runtime_schema_ops_resolve_by_version():
    # onnx's own LayerNormalization takes over from opset 17; ORT's default-domain op fills the opsets below
    assert OPS.resolve("", "LayerNormalization", 13) is not OPS.resolve("", "LayerNormalization", 17)
    assert OPS.resolve("", "LayerNormalization", 17) is OPS.resolve("", "LayerNormalization", 23)
    assert OPS.resolve("", "SimplifiedLayerNormalization", 9) is not None
    assert OPS.resolve("com.microsoft", "SkipLayerNormalization", 1) is not None
    assert OPS.resolve("com.microsoft", "NoSuchOp", 1) is None
    assert OPS.resolve("", "NoSuchOp", 17) is None


VOCAB, POS, SEG = 30, 12, 2
WORD_T, POS_T, SEG_T = _r(VOCAB, 16), _r(POS, 16), _r(SEG, 16)
IDS = rng.integers(0, VOCAB, (2, 7)).astype(np.int32)
SEGMENTS = rng.integers(0, SEG, (2, 7)).astype(np.int32)
MASK = np.array([[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]], np.int32)


@pytest.mark.parametrize("case", ["full", "no_segment", "position_ids", "holey_mask"])
def test_embed_layer_norm(case):
    inputs = {"ids": IDS, "seg": SEGMENTS, "mask": MASK}
    names = ["ids", "seg", "word", "pos", "segt", "gamma", "beta", "mask"]
    if case == "no_segment":
        inputs.pop("seg")
        names[1] = names[4] = ""
    if case == "position_ids":
        inputs["pid"] = np.array([[3, 1, 0, 2, 6, 5, 4]], np.int32)  # (1, S): broadcast over the batch
        names.append("pid")
    if case == "holey_mask":
        inputs["mask"] = np.array([[1, 0, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 0]], np.int32)
    inits = {"word": WORD_T, "pos": POS_T, "gamma": GAMMA, "beta": BETA}
    if case != "no_segment":
        inits["segt"] = SEG_T
    check_ms("EmbedLayerNormalization", inputs, {"epsilon": 1e-5}, initializers=inits, input_names=names, n_outputs=3)



def _group_norm_reference(x, gamma, beta, groups, eps, channels_last, silu):
    """GroupNorm in numpy, float64: x channels first, or channels last when ``channels_last``."""
    xf = np.moveaxis(x, -1, 1) if channels_last else x
    n, c = xf.shape[:2]
    g = xf.astype(np.float64).reshape(n, groups, -1)
    y = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + eps)).reshape(xf.shape)
    per_channel = [c] + [1] * (xf.ndim - 2)
    y = y * gamma.reshape(per_channel) + beta.reshape(per_channel)
    if silu:
        y = y / (1 + np.exp(-y))
    return (np.moveaxis(y, 1, -1) if channels_last else y).astype(np.float32)


@pytest.mark.parametrize("shape,channels_last,silu", [((2, 6, 5, 3), 1, 0), ((2, 6, 5, 3), 0, 1), ((1, 8, 7), 0, 0)])
def test_group_norm(shape, channels_last, silu):
    """ORT runs its GroupNorm on CUDA only: checked against numpy, channels either side, with SiLU."""
    x = _r(*shape)
    c = shape[-1] if channels_last else shape[1]
    gamma, beta = _r(c), _r(c)
    attrs = {"groups": c // 3 if c % 3 == 0 else 2, "epsilon": 1e-4, "channels_last": channels_last, "activation": silu}
    want = _group_norm_reference(x, gamma, beta, attrs["groups"], 1e-4, channels_last, silu)
    check_ms("GroupNorm", {"x": x}, attrs, initializers={"gamma": gamma, "beta": beta}, expected=[want], atol=1e-4)
