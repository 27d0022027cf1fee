"""Transformer ops: Attention (opsets 23-25), RotaryEmbedding (opset 23), FlexAttention (ai.onnx.preview 1).

The recurrent-state mixers (LinearAttention, CausalConvWithState) live in ``linear_attention.py``.
"""

from __future__ import annotations

import math
from typing import Any

from bridge_converters.onnx_tf.ops._common import permute
from bridge_converters.onnx_tf.ops.activation import softmax
from bridge_converters.onnx_tf.ops.linalg import mat_product
from bridge_converters.onnx_tf.registry import onnx_op

__all__ = ["rotate", "rotary_heads"]


def _dim(x: Any, i: int) -> Any:
    import tensorflow as tf

    d = x.shape[i]
    return d if d is not None else tf.shape(x)[i]


def _split_heads(x: Any, heads: int) -> Any:
    """[B, S, heads*D] -> [B, heads, S, D]."""
    import tensorflow as tf

    x = tf.reshape(x, tf.stack([_dim(x, 0), _dim(x, 1), heads, -1]))
    return permute(x, [0, 2, 1, 3])


def _offset_bias(allowed_fn: Any, q_len: Any, kv_len: Any, offset: Any, per_batch: bool, dtype: Any) -> Any:
    """0 where ``allowed_fn(query_position - key_index)`` holds, -inf elsewhere: [q, kv] or [B, 1, q, kv]."""
    import tensorflow as tf

    i = tf.range(q_len, dtype=tf.int64)[:, None]
    j = tf.range(kv_len, dtype=tf.int64)[None, :]
    if per_batch:
        diff = (i + tf.reshape(tf.cast(offset, tf.int64), [-1, 1, 1])) - j  # [B, q, kv]
    else:
        diff = (i + tf.cast(offset, tf.int64)) - j
    bias = tf.where(allowed_fn(diff), tf.zeros([], dtype), tf.constant(-math.inf, dtype))
    return bias[:, None] if per_batch else bias


def _attention_bias(ctx: Any, mask: Any, q: Any, q_len: Any, kv_len: Any, past_len: Any, nonpad: Any) -> Any:
    """The additive bias ONNX builds from attn_mask, is_causal, the window attributes and nonpad_kv_seqlen."""
    import tensorflow as tf

    dtype = q.dtype
    neg_inf = tf.constant(-math.inf, dtype)
    zeros = tf.zeros(tf.stack([q_len, kv_len]), dtype)
    if mask is not None:
        # A mask shorter than the key sequence is padded with "not attended".
        mask_len = _dim(mask, -1)
        pad = kv_len - mask_len if isinstance(kv_len, int) and isinstance(mask_len, int) else None
        if pad != 0:
            pad = tf.maximum(kv_len - mask_len, 0)
            paddings = tf.concat([tf.zeros([mask.shape.rank - 1, 2], tf.int32),
                                  tf.reshape(tf.stack([0, tf.cast(pad, tf.int32)]), [1, 2])], axis=0)
            mask = tf.pad(mask, paddings, constant_values=False if mask.dtype == tf.bool else -math.inf)
        mask = tf.where(mask, tf.zeros([], dtype), neg_inf) if mask.dtype == tf.bool else tf.cast(mask, dtype)
    bias = zeros if mask is None else zeros + mask
    # Offset of the query block inside the key sequence: past length, or per batch nonpad - q_len.
    per_batch = past_len is None and nonpad is not None
    if per_batch:
        offset = tf.cast(tf.reshape(nonpad, [-1]), tf.int64) - tf.cast(q_len, tf.int64)
    else:
        offset = past_len if past_len is not None else 0
    if ctx.attr("is_causal", 0):
        bias = bias + _offset_bias(lambda d: d >= 0, q_len, kv_len, offset, per_batch, dtype)
    left, right = ctx.attr("left_window_size", -1), ctx.attr("right_window_size", -1)
    if left >= 0 or right >= 0:
        def window(d: Any) -> Any:
            ok = tf.ones_like(d, tf.bool)
            if left >= 0:
                ok = tf.logical_and(ok, d <= left)
            if right >= 0:
                ok = tf.logical_and(ok, -d <= right)
            return ok
        bias = bias + _offset_bias(window, q_len, kv_len, offset, per_batch, dtype)
    if nonpad is not None:
        valid = tf.range(kv_len, dtype=tf.int64)[None, :] < tf.cast(tf.reshape(nonpad, [-1, 1]), tf.int64)
        bias = bias + tf.where(valid, tf.zeros([], dtype), neg_inf)[:, None, None, :]
    return bias


def _masked_softmax(x: Any) -> Any:
    """Softmax over the last axis where an all -inf row gives zeros instead of NaN (as ONNX's reference)."""
    import tensorflow as tf

    x_max = tf.reduce_max(x, axis=-1, keepdims=True)
    safe_max = tf.where(tf.math.is_inf(x_max) & (x_max < 0), tf.zeros_like(x_max), x_max)
    e = tf.exp(x - safe_max)
    if e.dtype in (tf.float16, tf.bfloat16):  # accumulate in float32, as numpy does for half sums
        s = tf.cast(tf.reduce_sum(tf.cast(e, tf.float32), axis=-1, keepdims=True), e.dtype)
    else:
        s = tf.reduce_sum(e, axis=-1, keepdims=True)
    return e / tf.where(tf.equal(s, 0), tf.ones_like(s), s)


@onnx_op("Attention", since=23)
@onnx_op("Attention", since=24)
@onnx_op("Attention", since=25)
def attention(ctx: Any) -> Any:
    import tensorflow as tf

    from bridge_converters.onnx_tf.dtypes import tf_dtype

    q, k, v = ctx.inputs[:3]
    mask, past_k, past_v, nonpad = ctx.input(3), ctx.input(4), ctx.input(5), ctx.input(6)
    if (past_k is None) != (past_v is None):
        raise ctx.unsupported("past_key and past_value must be given together")
    three_d = q.shape.rank == 3
    if three_d:
        q_heads, kv_heads = ctx.attr("q_num_heads"), ctx.attr("kv_num_heads")
        if not q_heads or not kv_heads:
            raise ctx.unsupported("3D inputs need the q_num_heads and kv_num_heads attributes")
        q, k, v = _split_heads(q, q_heads), _split_heads(k, kv_heads), _split_heads(v, kv_heads)
    dtype = q.dtype
    scale = ctx.attr("scale")
    if scale is None:
        head = q.shape[3]
        scale = (1.0 / tf.sqrt(tf.cast(tf.shape(q)[3], tf.float64))) if head is None else 1.0 / math.sqrt(head)
    # ONNX scales Q and K by sqrt(scale) each (overflow safety), rounding sqrt(scale) to the input type.
    root = tf.cast(tf.sqrt(tf.cast(scale, tf.float64)), dtype)

    past_len = None
    if past_k is not None:
        past_len = _dim(past_k, 2)
        k = tf.concat([past_k, k], axis=2)
        v = tf.concat([past_v, v], axis=2)
    present_k, present_v = k, v
    q_len, kv_len = _dim(q, 2), _dim(k, 2)
    bias = _attention_bias(ctx, mask, q, q_len, kv_len, past_len, nonpad)

    # Grouped-query attention: each KV head serves a block of consecutive query heads.
    q_heads_n, kv_heads_n = q.shape[1], k.shape[1]
    if q_heads_n is not None and kv_heads_n is not None:
        if q_heads_n != kv_heads_n and q_heads_n % kv_heads_n == 0:
            k = tf.repeat(k, q_heads_n // kv_heads_n, axis=1)
            v = tf.repeat(v, q_heads_n // kv_heads_n, axis=1)
    else:
        reps = tf.shape(q)[1] // tf.shape(k)[1]
        k, v = tf.repeat(k, reps, axis=1), tf.repeat(v, reps, axis=1)

    qk = mat_product(q * root, k * root, transpose_b=True)
    raw = qk
    softcap = ctx.attr("softcap", 0.0)
    if softcap and softcap > 0:
        cap = tf.constant(softcap, dtype)
        qk = tf.tanh(qk / cap) * cap
    with_bias = qk + bias
    mode = ctx.attr("qk_matmul_output_mode", 0)
    qk_out = {0: raw, 1: qk, 2: with_bias}.get(mode)

    precision = ctx.attr("softmax_precision")
    logits = tf.cast(with_bias, tf_dtype(precision)) if precision else with_bias
    probs = _masked_softmax(logits)
    # A query row whose bias masks every key gives zeros (decided on the bias, not on the logits).
    all_masked = tf.reduce_max(bias, axis=-1, keepdims=True)
    all_masked = tf.math.is_inf(all_masked) & (all_masked < 0)
    probs = tf.cast(tf.where(all_masked, tf.zeros([], probs.dtype), probs), dtype)
    if mode == 3:
        qk_out = probs
    if qk_out is None:
        raise ctx.unsupported(f"qk_matmul_output_mode={mode} is not defined")

    y = mat_product(probs, v)
    if three_d:
        y = permute(y, [0, 2, 1, 3])
        y = tf.reshape(y, tf.stack([_dim(y, 0), _dim(y, 1), -1]))
    return [y, present_k, present_v, qk_out][:max(1, ctx.num_outputs)]


def rotate(x: Any, cos: Any, sin: Any, rot_dim: int, interleaved: bool) -> Any:
    """RoPE on ``x`` [B, S, heads, D] with ``cos``/``sin`` [B or 1, S, rot_dim / 2]: the first ``rot_dim``
    features rotate (as halves, or as interleaved pairs), the rest pass through."""
    import tensorflow as tf

    cos, sin = tf.cast(cos, x.dtype)[:, :, None, :], tf.cast(sin, x.dtype)[:, :, None, :]
    x_rot, x_pass = x[..., :rot_dim], x[..., rot_dim:]
    if interleaved:
        x1, x2 = x_rot[..., 0::2], x_rot[..., 1::2]
    else:
        x1, x2 = x_rot[..., :rot_dim // 2], x_rot[..., rot_dim // 2:]
    real = cos * x1 - sin * x2
    imag = sin * x1 + cos * x2
    if interleaved:
        rotated = tf.reshape(tf.stack([real, imag], axis=-1), tf.shape(x_rot))
    else:
        rotated = tf.concat([real, imag], axis=-1)
    return tf.concat([rotated, x_pass], axis=-1)


def rotary_heads(ctx: Any, x: Any, cos: Any, sin: Any) -> Any:
    """RotaryEmbedding on a [B, heads, S, D] or [B, S, heads * D] input (heads from ``num_heads``), with
    ``cos``/``sin`` already gathered for each position: [B or 1, S, rot_dim / 2]."""
    import tensorflow as tf

    rank = x.shape.rank
    shape = tf.shape(x)
    if rank == 4:  # [B, heads, S, D] -> [B, S, heads, D]
        x = permute(x, [0, 2, 1, 3])
    elif rank == 3:
        heads = ctx.attr("num_heads", 0)
        if not heads:
            raise ctx.unsupported("3D input needs the num_heads attribute")
        x = tf.reshape(x, tf.stack([shape[0], shape[1], heads, -1]))
    else:
        raise ctx.unsupported(f"input rank {rank} (expected 3 or 4)")
    head = x.shape[3]
    rot_dim = ctx.attr("rotary_embedding_dim", 0) or head
    if rot_dim is None:
        raise ctx.unsupported("head size must be static when rotary_embedding_dim is not given")
    out = rotate(x, cos, sin, rot_dim, bool(ctx.attr("interleaved", 0)))
    if rank == 4:
        return permute(out, [0, 2, 1, 3])
    return tf.reshape(out, shape)


@onnx_op("RotaryEmbedding", since=23)
def rotary_embedding(ctx: Any) -> Any:
    import tensorflow as tf

    x, cos, sin = ctx.inputs[:3]
    position_ids = ctx.input(3)
    if position_ids is not None:
        cos, sin = tf.gather(cos, position_ids), tf.gather(sin, position_ids)
    return rotary_heads(ctx, x, cos, sin)


@onnx_op("FlexAttention", since=1, domain="ai.onnx.preview")
def flex_attention(ctx: Any) -> Any:
    """Scaled dot-product attention over rank-4 inputs with optional score_mod / prob_mod subgraphs."""
    import tensorflow as tf

    from bridge_converters.onnx_tf.dtypes import tf_dtype

    q, k, v = ctx.inputs[:3]
    if q.shape.rank != 4:
        raise ctx.unsupported("FlexAttention takes rank-4 Q, K and V")
    scale = ctx.attr("scale")
    if scale is None:
        head = q.shape[3]
        if head is None:
            raise ctx.unsupported("head size must be static when scale is not given")
        scale = 1.0 / math.sqrt(head)
    # sqrt(scale) is computed in float32, then rounded to the input type.
    root = tf.cast(tf.sqrt(tf.constant(scale, tf.float32)), q.dtype)
    q_heads, kv_heads = q.shape[1], k.shape[1]
    if q_heads is None or kv_heads is None:
        reps = tf.shape(q)[1] // tf.shape(k)[1]
        k, v = tf.repeat(k, reps, axis=1), tf.repeat(v, reps, axis=1)
    elif q_heads != kv_heads:
        if q_heads % kv_heads:
            raise ctx.unsupported("the query head count must be a multiple of the key/value head count")
        k, v = tf.repeat(k, q_heads // kv_heads, axis=1), tf.repeat(v, q_heads // kv_heads, axis=1)
    precision = ctx.attr("softmax_precision")
    if precision:
        work = tf_dtype(precision)
    else:
        work = tf.float32 if q.dtype in (tf.float16, tf.bfloat16) else q.dtype
    scores = tf.cast(mat_product(q * root, k * root, transpose_b=True), work)
    if ctx.attr("score_mod") is not None:
        scores = tf.cast(ctx.subgraph("score_mod")([scores])[0], work)
    probs = softmax(scores)
    if ctx.attr("prob_mod") is not None:
        probs = tf.cast(ctx.subgraph("prob_mod")([probs])[0], work)
    return tf.cast(mat_product(probs, tf.cast(v, work)), v.dtype)
