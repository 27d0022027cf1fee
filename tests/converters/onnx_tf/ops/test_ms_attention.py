import numpy as np
import pytest

from tests.converters.onnx_tf.ops.ms_check import check_ms

rng = np.random.default_rng(0)
B, S, D, N = 2, 5, 16, 4  # batch, sequence, hidden, heads (head size 4)


def _r(*shape):
    return rng.standard_normal(shape).astype(np.float32)


X, W, BIAS = _r(B, S, D), _r(D, 3 * D) * 0.5, _r(3 * D)

MASKS = {
    "raw_2d": np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.int32),
    "raw_3d": (rng.random((B, S, S)) > 0.3).astype(np.int32),
    "ends": np.array([3, 5], np.int32),
    "ends_starts": np.array([4, 5, 1, 0], np.int32),
    "all_hidden_row": np.array([[0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], np.int32),
}


@pytest.mark.parametrize("mask", [None, *MASKS])
@pytest.mark.parametrize("unidirectional", [0, 1])
def test_attention_masks(mask, unidirectional):
    inputs = {"x": X} if mask is None else {"x": X, "m": MASKS[mask]}
    names = ["x", "w", "b"] + ([] if mask is None else ["m"])
    check_ms("Attention", inputs, {"num_heads": N, "unidirectional": unidirectional}, initializers={"w": W, "b": BIAS},
             input_names=names)


def test_attention_qkv_sizes_scale_and_bias():
    # Q/K of 8 (2 per head), V of 12 (3 per head); an extra additive attention bias per head
    w, b = _r(D, 8 + 8 + 12), _r(28)
    check_ms("Attention", {"x": X, "ab": _r(1, N, S, S)}, {"num_heads": N, "qkv_hidden_sizes": [8, 8, 12], "scale": 0.3},
             initializers={"w": w, "b": b}, input_names=["x", "w", "b", "", "", "ab"])


@pytest.mark.parametrize("unidirectional", [0, 1])
def test_attention_past_and_present(unidirectional):
    past = _r(2, B, N, 3, D // N)
    mask = np.ones((B, 3 + S), np.int32)
    mask[0, :2] = 0  # left padding inside the past
    check_ms("Attention", {"x": X, "m": mask, "past": past}, {"num_heads": N, "unidirectional": unidirectional},
             initializers={"w": W, "b": BIAS}, input_names=["x", "w", "b", "m", "past"], n_outputs=2)


def test_attention_no_bias_mask_filter_value():
    check_ms("Attention", {"x": X, "m": MASKS["raw_2d"]}, {"num_heads": N, "mask_filter_value": -50.0},
             initializers={"w": W}, input_names=["x", "w", "", "m"])


L = 7  # key/value length for cross attention
Q, K, V = _r(B, S, D), _r(B, L, D), _r(B, L, 12)


@pytest.mark.parametrize("mask", [None, "lengths", "raw_2d", "raw_3d"])
def test_multi_head_attention_cross(mask):
    masks = {"lengths": np.array([4, 7], np.int32), "raw_2d": (rng.random((B, L)) > 0.3).astype(np.int32),
             "raw_3d": (rng.random((B, S, L)) > 0.3).astype(np.int32)}
    inputs = {"q": Q, "k": K, "v": V, **({"m": masks[mask]} if mask else {})}
    names = ["q", "k", "v"] + (["", "m"] if mask else [])
    check_ms("MultiHeadAttention", inputs, {"num_heads": N}, input_names=names)


def test_multi_head_attention_bias_and_attention_bias():
    inputs = {"q": Q, "k": K, "v": _r(B, L, D), "ab": _r(B, 1, S, L)}
    check_ms("MultiHeadAttention", inputs, {"num_heads": N, "scale": 0.2}, initializers={"b": _r(3 * D)},
             input_names=["q", "k", "v", "b", "", "ab"])


@pytest.mark.parametrize("unidirectional", [0, 1])
def test_multi_head_attention_past(unidirectional):
    inputs = {"q": Q, "k": _r(B, S, D), "v": _r(B, S, D), "pk": _r(B, N, 3, D // N), "pv": _r(B, N, 3, D // N)}
    check_ms("MultiHeadAttention", inputs, {"num_heads": N, "unidirectional": unidirectional},
             initializers={"b": _r(3 * D)}, input_names=["q", "k", "v", "b", "", "", "pk", "pv"], n_outputs=3)


def test_multi_head_attention_per_head_key_value():
    check_ms("MultiHeadAttention", {"q": Q, "k": _r(B, N, L, D // N), "v": _r(B, N, L, D // N)}, {"num_heads": N})


def test_multi_head_attention_packed_layouts():
    # ORT's CPU kernel leaves packed QKV (B, S, N, 3, H) and KV (B, L, N, 2, H) to CUDA: expect what it gives
    # for the same Q, K and V unpacked
    qkv = _r(B, S, N, 3, D // N)
    q, k, v = (qkv[:, :, :, i].reshape(B, S, D) for i in range(3))
    want = check_ms("MultiHeadAttention", {"q": q, "k": k, "v": v}, {"num_heads": N})
    check_ms("MultiHeadAttention", {"qkv": qkv}, {"num_heads": N}, expected=want)
    kv = _r(B, L, N, 2, D // N)
    k, v = (kv[:, :, :, i].reshape(B, L, D) for i in range(2))
    want = check_ms("MultiHeadAttention", {"q": Q, "k": k, "v": v}, {"num_heads": N})
    check_ms("MultiHeadAttention", {"q": Q, "kv": kv}, {"num_heads": N}, expected=want)


MAX_POS, HEAD = 16, 8
COS, SIN = np.cos(_r(MAX_POS, HEAD // 2)), np.sin(_r(MAX_POS, HEAD // 2))


@pytest.mark.parametrize("layout", ["bsd", "bnsh"])
@pytest.mark.parametrize("interleaved", [0, 1])
@pytest.mark.parametrize("positions", ["offset", "per_token"])
def test_rotary_embedding(layout, interleaved, positions):
    x = _r(B, S, 2 * HEAD) if layout == "bsd" else _r(B, 2, S, HEAD)
    pid = np.array([3], np.int64) if positions == "offset" else rng.integers(0, MAX_POS, (B, S)).astype(np.int64)
    attrs = {"interleaved": interleaved, **({"num_heads": 2} if layout == "bsd" else {})}
    check_ms("RotaryEmbedding", {"x": x, "p": pid}, attrs, initializers={"cos": COS.astype(np.float32),
                                                                        "sin": SIN.astype(np.float32)})


def test_rotary_embedding_partial():
    x = _r(B, S, 2 * HEAD)
    cos, sin = COS[:, :2].astype(np.float32), SIN[:, :2].astype(np.float32)  # rotate 4 of each head's 8
    check_ms("RotaryEmbedding", {"x": x, "p": rng.integers(0, MAX_POS, (B, S)).astype(np.int64)},
             {"num_heads": 2, "rotary_embedding_dim": 4}, initializers={"cos": cos, "sin": sin})
