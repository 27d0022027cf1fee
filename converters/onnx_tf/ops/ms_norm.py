"""ONNX Runtime's fused normalisations: SkipLayerNormalization, SkipSimplifiedLayerNormalization,
EmbedLayerNormalization, GroupNorm (domain com.microsoft), and the LayerNormalization-1 / SimplifiedLayerNormalization
that ONNX Runtime defines in the default domain itself.

ORT's optimisers write the last two into models of any opset (onnx's own LayerNormalization starts at
opset 17), so they are registered with ``runtime_schema``: they resolve at every opset that has no onnx
schema for them. Statistics are computed in float32 for 16-bit inputs (stash_type 1), as ORT does.
"""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.ops._common import norm_axis
from bridge_converters.onnx_tf.ops.ms_activation import MS
from bridge_converters.onnx_tf.ops.norm import channel_affine, grouped_norm, layer_norm
from bridge_converters.onnx_tf.passes.layout import CHANNEL
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []

_SKIP_EPSILON = 1e-12  # ORT's default for the Skip* and EmbedLayerNormalization fusions


def _stats_dtype(x: Any) -> Any:
    import tensorflow as tf

    return tf.float32 if x.dtype in (tf.float16, tf.bfloat16) else x.dtype


def _layer_norm(x: Any, gamma: Any, beta: Any, eps: float, axes: list[int]) -> tuple[Any, Any, Any]:
    """LayerNorm over ``axes``; returns (y, mean, 1/std) with the statistics' axes kept."""
    import tensorflow as tf

    work = _stats_dtype(x)
    xs = tf.cast(x, work)
    mean = tf.reduce_mean(xs, axis=axes, keepdims=True)
    diff = xs - mean
    inv_std = tf.math.rsqrt(tf.reduce_mean(tf.square(diff), axis=axes, keepdims=True) + tf.cast(eps, work))
    y = tf.cast(diff * inv_std, x.dtype) * tf.cast(gamma, x.dtype)
    if beta is not None:
        y = y + tf.cast(beta, x.dtype)
    return y, mean, inv_std


def _rms_norm(x: Any, gamma: Any, eps: float, axes: list[int]) -> tuple[Any, Any]:
    """x / sqrt(mean(x^2) + eps) * gamma over ``axes``; returns (y, 1/rms) with the axes kept."""
    import tensorflow as tf

    work = _stats_dtype(x)
    xs = tf.cast(x, work)
    inv = tf.math.rsqrt(tf.reduce_mean(tf.square(xs), axis=axes, keepdims=True) + tf.cast(eps, work))
    return tf.cast(xs * inv, x.dtype) * tf.cast(gamma, x.dtype), inv


@onnx_op("LayerNormalization", since=1, runtime_schema=True)
def layer_norm_ort(ctx: Any) -> Any:
    """ORT's LayerNormalization: the same attributes and outputs as onnx's opset-17 op."""
    return layer_norm(ctx)


@onnx_op("SimplifiedLayerNormalization", since=1, runtime_schema=True)
def simplified_layer_norm(ctx: Any) -> Any:
    """RMS normalisation over the axes from ``axis`` on; outputs Y and inv_std_var."""
    x, scale = ctx.inputs[0], ctx.inputs[1]
    rank = x.shape.rank
    axis = norm_axis(int(ctx.attr("axis", -1)), rank)
    y, inv = _rms_norm(x, scale, float(ctx.attr("epsilon", 1e-5)), list(range(axis, rank)))
    return [y, inv]


def _skip_sum(ctx: Any, bias_index: int) -> Any:
    """input + skip (+ bias); skip may be (B, S, D), (1, S, D) or (S, D) and broadcasts."""
    s = ctx.inputs[0] + ctx.inputs[1]
    bias = ctx.input(bias_index)
    return s if bias is None else s + bias


@onnx_op("SkipLayerNormalization", since=1, domain=MS)
def skip_layer_norm(ctx: Any) -> Any:
    """LayerNorm(input + skip + bias) * gamma + beta over the last axis; outputs (output, mean,
    inv_std_var, input_skip_bias_sum)."""
    s = _skip_sum(ctx, 4)
    y, mean, inv_std = _layer_norm(s, ctx.inputs[2], ctx.input(3), float(ctx.attr("epsilon", _SKIP_EPSILON)), [-1])
    return [y, mean, inv_std, s]


@onnx_op("SkipSimplifiedLayerNormalization", since=1, domain=MS)
def skip_simplified_layer_norm(ctx: Any) -> Any:
    """RMSNorm(input + skip + bias) * gamma; outputs (output, mean (unused, zeros), inv_std_var, sum)."""
    import tensorflow as tf

    s = _skip_sum(ctx, 3)
    y, inv = _rms_norm(s, ctx.inputs[2], float(ctx.attr("epsilon", _SKIP_EPSILON)), [-1])
    return [y, tf.zeros_like(inv), inv, s]


@onnx_op("EmbedLayerNormalization", since=1, domain=MS)
def embed_layer_norm(ctx: Any) -> Any:
    """word[input_ids] + position[position_ids or 0..S-1] (+ segment[segment_ids]), layer-normalised;
    outputs (output, mask_index: the number of non-zero mask entries per row, embedding_sum)."""
    import tensorflow as tf

    ids = ctx.inputs[0]
    segment_ids, word, position = ctx.input(1), ctx.inputs[2], ctx.inputs[3]
    segment_table, gamma, beta = ctx.input(4), ctx.inputs[5], ctx.inputs[6]
    mask, position_ids = ctx.input(7), ctx.input(8)
    emb = tf.gather(word, ids)
    if position_ids is None:
        positions = tf.gather(position, tf.range(tf.shape(ids)[1]))[None]
    else:
        positions = tf.gather(position, position_ids)  # (B, S) or (1, S): broadcasts over the batch
    emb = emb + positions
    if segment_ids is not None and segment_table is not None:
        emb = emb + tf.gather(segment_table, segment_ids)
    y, _, _ = _layer_norm(emb, gamma, beta, float(ctx.attr("epsilon", _SKIP_EPSILON)), [-1])
    if mask is not None:
        mask_index = tf.reduce_sum(tf.cast(tf.not_equal(mask, 0), tf.int32), axis=1)
    else:
        mask_index = tf.zeros(tf.shape(ids)[:1], tf.int32)
    return [y, mask_index, emb]


@onnx_op("GroupNorm", since=1, domain=MS, layout=CHANNEL)
def group_norm(ctx: Any) -> Any:
    """GroupNormalization with gamma and beta per channel, the channels last (N, ..., C) unless
    ``channels_last`` is 0, then SiLU when ``activation`` is 1. ORT's kernels take rank 4 only; any rank >= 3
    converts here (``passes/fuse.py`` writes it for the Reshape/InstanceNormalization/Reshape GroupNorm)."""
    import tensorflow as tf

    x, gamma, beta = ctx.inputs[:3]
    rank = x.shape.rank
    axis = ctx.physical_axis(rank - 1 if int(ctx.attr("channels_last", 1)) else 1)
    y = grouped_norm(x, axis, int(ctx.attr("groups")), float(ctx.attr("epsilon", 1e-5)), _stats_dtype(x),
                     ctx.physical_axis(0))
    y = channel_affine(y, gamma, beta, axis)
    return y * tf.sigmoid(y) if int(ctx.attr("activation", 0)) else y
