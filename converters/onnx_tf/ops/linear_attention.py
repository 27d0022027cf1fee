"""Recurrent-state sequence mixers: LinearAttention (opset 27) and CausalConvWithState (opset 27).

Both carry a state across calls (``past_state`` in, ``present_state`` out) for step-by-step decoding.
Like ONNX's reference, LinearAttention accumulates its state in float32 whatever the input type.
"""

from __future__ import annotations

import math
from typing import Any

from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


def _heads(x: Any, heads: int) -> Any:
    """[B, T, heads*D] -> [B, heads, T, D]."""
    import tensorflow as tf

    shape = tf.shape(x)
    b = x.shape[0] if x.shape[0] is not None else shape[0]
    t = x.shape[1] if x.shape[1] is not None else shape[1]
    return tf.transpose(tf.reshape(x, tf.stack([b, t, heads, -1])), [0, 2, 1, 3])


@onnx_op("LinearAttention", since=27)
def linear_attention(ctx: Any) -> Any:
    import tensorflow as tf

    query, key, value = ctx.inputs[:3]
    past, decay, beta = ctx.input(3), ctx.input(4), ctx.input(5)
    rule = ctx.attr("update_rule", "gated_delta")
    if rule not in ("linear", "gated", "delta", "gated_delta"):
        raise ctx.unsupported(f"update_rule {rule!r}")
    q_heads, kv_heads = ctx.attr("q_num_heads"), ctx.attr("kv_num_heads")
    if not q_heads or not kv_heads or q_heads % kv_heads:
        raise ctx.unsupported("q_num_heads must be a positive multiple of kv_num_heads")
    gating, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    if gating != (decay is not None) or delta != (beta is not None):
        raise ctx.unsupported(f"update_rule {rule!r} does not match the decay/beta inputs given")
    d_k = query.shape[-1] // q_heads if query.shape[-1] is not None else None
    if d_k is None or value.shape[-1] is None:
        raise ctx.unsupported("the hidden sizes of query and value must be static")
    d_v = value.shape[-1] // kv_heads
    group = q_heads // kv_heads
    f32 = tf.float32
    q4, k4, v4 = (tf.cast(_heads(t, h), f32) for t, h in ((query, q_heads), (key, kv_heads), (value, kv_heads)))

    def time_major(x4: Any) -> Any:  # [B, H, T, D] -> [T, B, H, D]
        return tf.transpose(x4, [2, 0, 1, 3])

    elems = [time_major(q4), time_major(k4), time_major(v4)]
    if gating:
        per_head = decay.shape[-1] == kv_heads
        if not per_head and decay.shape[-1] != kv_heads * d_k:
            raise ctx.unsupported("decay's last dimension must be kv_num_heads or kv_num_heads * head size")
        g = tf.cast(decay, f32)
        elems.append(tf.transpose(g, [1, 0, 2])[..., None] if per_head else time_major(_heads(g, kv_heads)))
    if delta:
        elems.append(tf.transpose(tf.cast(beta, f32), [1, 0, 2])[..., None])  # [T, B, H_kv or 1, 1]
    batch = tf.shape(query)[0]
    state0 = tf.cast(past, f32) if past is not None else tf.zeros(tf.stack([batch, kv_heads, d_k, d_v]), f32)
    scale = ctx.attr("scale") or 1.0 / math.sqrt(d_k)

    def step(carry: Any, xs: Any) -> Any:
        state = carry[0]
        q_t, k_t, v_t = xs[:3]
        rest = list(xs[3:])
        if gating:
            state = state * tf.exp(rest.pop(0))[..., None]
        if delta:
            retrieved = tf.einsum("bhdm,bhd->bhm", state, k_t)
            v_t = rest.pop(0) * (v_t - retrieved)
        state = state + k_t[..., :, None] * v_t[..., None, :]
        read = tf.repeat(state, group, axis=1) if group > 1 else state
        return state, scale * tf.einsum("bhd,bhdm->bhm", q_t, read)

    out0 = tf.zeros(tf.stack([batch, q_heads, d_v]), f32)
    states, outs = tf.scan(step, tuple(elems), initializer=(state0, out0))
    y = tf.transpose(outs, [1, 0, 2, 3])  # [B, T, H_q, d_v]
    y = tf.reshape(y, tf.concat([tf.shape(y)[:2], [q_heads * d_v]], axis=0))
    # With no step, the state passes through unchanged.
    present = states[-1] if query.shape[1] else tf.cond(tf.shape(query)[1] > 0, lambda: states[-1], lambda: state0)
    state_dtype = past.dtype if past is not None else query.dtype
    return [tf.cast(y, query.dtype), tf.cast(present, state_dtype)]


@onnx_op("CausalConvWithState", since=27)
def causal_conv_with_state(ctx: Any) -> Any:
    """Depthwise causal conv1d over [B, C, L], left-padded by ``past_state`` (or zeros), with optional SiLU."""
    import tensorflow as tf

    x, weight = ctx.inputs[:2]
    bias, past = ctx.input(2), ctx.input(3)
    activation = ctx.attr("activation", "none")
    if activation not in ("none", "silu", "swish"):
        raise ctx.unsupported(f"activation {activation!r}")
    k = weight.shape[2]
    if k is None:
        raise ctx.unsupported("the kernel size must be static")
    if past is None:
        shape = tf.shape(x)
        past = tf.zeros(tf.stack([shape[0], shape[1], k - 1]), x.dtype)
    padded = tf.concat([past, x], axis=2)
    # Half types accumulate in float32 and round once, as the reference's matmul-based conv does.
    work = tf.float32 if x.dtype in (tf.float16, tf.bfloat16) else x.dtype
    p = tf.cast(padded, work)
    w = tf.cast(weight, work)
    length = tf.shape(padded)[2] - (k - 1)
    out = sum(w[None, :, 0, j:j + 1] * p[:, :, j:j + length] for j in range(k))
    if bias is not None:
        out = out + tf.cast(bias, work)[None, :, None]
    out = tf.cast(out, x.dtype)
    if activation != "none":
        o = tf.cast(out, work)
        out = tf.cast(o * tf.sigmoid(o), x.dtype)
    present = padded[:, :, tf.shape(padded)[2] - (k - 1):]
    return [out, present]
