"""ONNX Runtime's fused attention (domain com.microsoft): Attention, MultiHeadAttention, RotaryEmbedding.

The transformer optimiser fuses BERT and GPT-2 self-attention into ``Attention`` (one packed QKV
projection) and encoder-decoder or pre-projected attention into ``MultiHeadAttention``. Masks follow ORT's
CPU kernels: key positions a mask hides get ``mask_filter_value`` (-10000) added to their score, so a row
whose keys are all hidden averages them evenly instead of turning into NaN; the causal mask of
``unidirectional`` removes later keys outright (the dtype's lowest value), so such a row averages only the
keys up to its own position.
"""

from __future__ import annotations

import math
from typing import Any

from bridge_converters.onnx_tf.ops._common import permute
from bridge_converters.onnx_tf.ops.activation import softmax
from bridge_converters.onnx_tf.ops.attention import rotary_heads
from bridge_converters.onnx_tf.ops.linalg import mat_product, np_matmul
from bridge_converters.onnx_tf.ops.ms_activation import MS
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


def _dim(x: Any, i: int) -> Any:
    import tensorflow as tf

    d = x.shape[i]
    return d if d is not None else tf.shape(x)[i]


def _heads(x: Any, heads: int) -> Any:
    """[B, S, heads * H] -> [B, heads, S, H]; H stays static where the hidden size is."""
    import tensorflow as tf

    hidden = x.shape[-1]
    x = tf.reshape(x, tf.stack([_dim(x, 0), _dim(x, 1), heads, hidden // heads if hidden is not None else -1]))
    return permute(x, [0, 2, 1, 3])


def _merge_heads(x: Any) -> Any:
    """[B, heads, S, H] -> [B, S, heads * H]."""
    import tensorflow as tf

    x = permute(x, [0, 2, 1, 3])
    return tf.reshape(x, tf.stack([_dim(x, 0), _dim(x, 1), -1]))


def _key_mask(ctx: Any, mask: Any, batch: Any, q_len: Any, total: Any) -> Any:
    """Where a key is hidden, per (B, 1 | S, T), from ORT's mask formats: (B, T) or (B, S, T) with 0 for
    hidden; (B) with the end of each row's keys; (2B) with the ends then the starts."""
    import tensorflow as tf

    if mask.shape.rank is None:
        raise ctx.unsupported("the mask's rank must be known")
    if mask.shape.rank == 2:
        return tf.equal(mask, 0)[:, None, :]
    if mask.shape.rank == 3:
        return tf.equal(mask, 0)
    if mask.shape.rank == 1:
        # B ends, or B ends then B starts; zero padding to 2B makes the starts 0 in the first case.
        if isinstance(batch, int) and mask.shape[0] is not None and mask.shape[0] not in (batch, 2 * batch):
            raise ctx.unsupported(f"a 1-D mask_index of {mask.shape[0]} entries for batch {batch} (B or 2B)")
        mask = tf.cast(mask, tf.int32)
        padded = tf.concat([mask, tf.zeros(tf.reshape(batch, [1]), tf.int32)], axis=0)
        ends, starts = padded[:batch], padded[batch:2 * batch]
        pos = tf.range(tf.cast(total, tf.int32))[None, None, :]
        return (pos >= ends[:, None, None]) | (pos < starts[:, None, None])
    raise ctx.unsupported(f"a rank-{mask.shape.rank} mask_index")


def _attend(ctx: Any, q: Any, k: Any, v: Any, mask: Any, attn_bias: Any, past_len: Any, causal: bool) -> tuple[Any, Any]:
    """softmax(scale * q k^T + attention_bias + masks) v for [B, N, S, H] operands; returns (out, scores)."""
    import tensorflow as tf

    head = q.shape[-1]
    scale = ctx.attr("scale")
    if not scale:  # 0 or absent means the default, as in ORT
        if head is None:
            raise ctx.unsupported("the head size must be static when scale is not given")
        scale = 1.0 / math.sqrt(head)
    filter_value = tf.constant(float(ctx.attr("mask_filter_value", -10000.0)), q.dtype)
    scores = mat_product(q, k, transpose_b=True) * tf.constant(scale, q.dtype)
    if attn_bias is not None:
        scores = scores + attn_bias
    q_len, total = _dim(q, 2), _dim(k, 2)
    if mask is not None:
        hidden = _key_mask(ctx, mask, _dim(q, 0), q_len, total)
        scores = scores + tf.where(hidden, filter_value, tf.zeros([], q.dtype))[:, None]
    if causal:
        i = tf.range(q_len)[:, None] + tf.cast(past_len, tf.int32)
        j = tf.range(total)[None, :]
        scores = scores + tf.where(j > i, tf.constant(q.dtype.min, q.dtype), tf.zeros([], q.dtype))
    probs = softmax(scores)
    return mat_product(probs, v), scores


def _qkv_sizes(ctx: Any, width: Any) -> list[int]:
    sizes = ctx.attr("qkv_hidden_sizes")
    if sizes:
        return [int(s) for s in sizes]
    if width is None or width % 3:
        raise ctx.unsupported("the QKV weight width must be static and divisible by 3 without qkv_hidden_sizes")
    return [width // 3] * 3


@onnx_op("Attention", since=1, domain=MS)
def attention(ctx: Any) -> Any:
    """Self-attention with one packed projection: input (B, S, D) @ weights (D, Dq + Dk + Dv) + bias;
    optional mask_index, past (2, B, N, P, H), attention_bias; outputs (output, present)."""
    import tensorflow as tf

    if ctx.attr("do_rotary", 0) or ctx.attr("past_present_share_buffer", 0):
        raise ctx.unsupported("do_rotary / past_present_share_buffer")
    x, w = ctx.inputs[0], ctx.inputs[1]
    heads = int(ctx.attr("num_heads"))
    qkv = np_matmul(x, w)
    if ctx.has_input(2):
        qkv = qkv + ctx.inputs[2]
    q, k, v = tf.split(qkv, _qkv_sizes(ctx, w.shape[1]), axis=-1)
    q, k, v = _heads(q, heads), _heads(k, heads), _heads(v, heads)
    past = ctx.input(4)
    past_len: Any = 0
    if past is not None:
        past_len = _dim(past, 3)
        k, v = tf.concat([past[0], k], axis=2), tf.concat([past[1], v], axis=2)
    out, _ = _attend(ctx, q, k, v, ctx.input(3), ctx.input(5), past_len, bool(ctx.attr("unidirectional", 0)))
    # present stacks K and V, so it exists only where their head sizes agree (ORT requires that with past)
    return [_merge_heads(out), tf.stack([k, v]) if ctx.output_used(1) else None]


def _mha_kv(ctx: Any, q: Any, key: Any, value: Any, bias: Any, heads: int) -> tuple[Any, Any, Any]:
    """Q, K, V as [B, N, S|L, H] from MultiHeadAttention's layouts: separate (B, S|L, D) tensors, packed
    QKV (B, S, N, 3, H) in query, packed KV (B, L, N, 2, H) in key, or K and V already (B, N, L, H)."""
    import tensorflow as tf

    if q.shape.rank == 5:  # packed QKV
        if bias is not None:
            raise ctx.unsupported("a bias with packed QKV")
        q, k, v = tf.unstack(q, axis=3)
        return tuple(permute(t, [0, 2, 1, 3]) for t in (q, k, v))  # type: ignore[return-value]
    d = _dim(q, 2)
    bq = bk = bv = None
    if bias is not None:
        if not isinstance(d, int):
            raise ctx.unsupported("the hidden size must be static with a bias")
        bq, bk, bv = bias[:d], bias[d:2 * d], bias[2 * d:]
    q = _heads(q if bq is None else q + bq, heads)
    if key.shape.rank == 5:  # packed KV
        if bias is not None:
            raise ctx.unsupported("a bias with packed KV")
        k, v = tf.unstack(key, axis=3)
        return q, permute(k, [0, 2, 1, 3]), permute(v, [0, 2, 1, 3])
    if key.shape.rank == 4:  # already split into heads: cross-attention on a cached encoder projection
        if bias is not None:
            raise ctx.unsupported("a bias with key/value given per head")
        return q, key, value
    k = _heads(key if bk is None else key + bk, heads)
    v = _heads(value if bv is None else value + bv, heads)
    return q, k, v


@onnx_op("MultiHeadAttention", since=1, domain=MS)
def multi_head_attention(ctx: Any) -> Any:
    """Self/cross attention on projected Q, K, V; optional bias, key_padding_mask, attention_bias,
    past_key/past_value (B, N, P, H); outputs (output, present_key, present_value, qk)."""
    if ctx.has_input(8) or ctx.has_input(9):
        raise ctx.unsupported("past_sequence_length / cache_indirection (buffer sharing, beam search)")
    heads = int(ctx.attr("num_heads"))
    query, key, value = ctx.inputs[0], ctx.input(1), ctx.input(2)
    if query.shape.rank != 5 and key is None:
        raise ctx.unsupported("key is required unless query packs Q, K and V")
    q, k, v = _mha_kv(ctx, query, key, value, ctx.input(3), heads)
    past_key, past_value = ctx.input(6), ctx.input(7)
    past_len: Any = 0
    if past_key is not None and past_value is not None and (key is None or key.shape.rank != 4):
        import tensorflow as tf

        past_len = _dim(past_key, 2)
        k, v = tf.concat([past_key, k], axis=2), tf.concat([past_value, v], axis=2)
    out, scores = _attend(ctx, q, k, v, ctx.input(4), ctx.input(5), past_len, bool(ctx.attr("unidirectional", 0)))
    return [_merge_heads(out), k, v, scores]


@onnx_op("RotaryEmbedding", since=1, domain=MS)
def rotary_embedding(ctx: Any) -> Any:
    """ORT's RotaryEmbedding: inputs (input, position_ids, cos_cache, sin_cache); position_ids is (B, S),
    or one start position for every row."""
    import tensorflow as tf

    if ctx.attr("is_packed_batching", 0):
        raise ctx.unsupported("is_packed_batching")
    x, position_ids, cos, sin = ctx.inputs[:4]
    position_ids = tf.cast(position_ids, tf.int64)
    seq_axis = 2 if x.shape.rank == 4 else 1
    if position_ids.shape.rank == 1:  # (1): the first position; rows count on from it
        position_ids = position_ids[:1, None] + tf.range(tf.cast(tf.shape(x)[seq_axis], tf.int64))[None, :]
    return rotary_heads(ctx, x, tf.gather(cos, position_ids), tf.gather(sin, position_ids))
