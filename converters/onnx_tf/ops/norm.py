"""Normalisations: BatchNormalization, InstanceNormalization, GroupNormalization, LayerNormalization,
RMSNormalization, LRN, LpNormalization, MeanVarianceNormalization.

BatchNormalization, InstanceNormalization, GroupNormalization and LRN work in whatever layout their input is in
(layout rule CHANNEL): they find the channel axis with ``ctx.physical_axis(1)``.
"""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.ops._common import norm_axis
from bridge_converters.onnx_tf.passes.layout import CHANNEL
from bridge_converters.onnx_tf.passes.layout_axes import AXIS
from bridge_converters.onnx_tf.registry import onnx_op

__all__ = ["channel_affine", "grouped_norm"]


def _per_channel(t: Any, rank: int, axis: int = 1) -> Any:
    """A (C,) parameter shaped to broadcast along ``axis`` of a rank-``rank`` tensor; a per-activation
    (C, D1, ...) one as is."""
    import tensorflow as tf

    if t.shape.rank is not None and t.shape.rank > 1:
        return t  # spatial=0 (opsets 1-8): one parameter per activation, broadcast over the batch
    return tf.reshape(t, [-1] + [1] * (rank - 1 - axis))


def channel_affine(y: Any, scale: Any, bias: Any, axis: int) -> Any:
    """``y * scale + bias`` with (C,) parameters along ``axis`` of ``y``."""
    import tensorflow as tf

    rank = y.shape.rank
    return y * _per_channel(tf.cast(scale, y.dtype), rank, axis) + _per_channel(tf.cast(bias, y.dtype), rank, axis)


def _stash(ctx: Any, x: Any) -> Any:
    """The dtype statistics are computed in: float32 when stash_type is 1 (the default), else x's own."""
    import tensorflow as tf

    return tf.float32 if int(ctx.attr("stash_type", 1)) == 1 and x.dtype in (tf.float16, tf.bfloat16) else x.dtype


def _batch_norm_apply(x: Any, scale: Any, bias: Any, mean: Any, var: Any, eps: float, axis: int = 1) -> Any:
    import tensorflow as tf

    rank = x.shape.rank
    inv = tf.math.rsqrt(tf.cast(var, x.dtype) + tf.cast(eps, x.dtype)) * tf.cast(scale, x.dtype)
    shift = tf.cast(bias, x.dtype) - tf.cast(mean, x.dtype) * inv
    return x * _per_channel(inv, rank, axis) + _per_channel(shift, rank, axis)


def _channel_axis(ctx: Any) -> int:
    return ctx.physical_axis(1) if ctx.inputs[0].shape.rank and ctx.inputs[0].shape.rank > 1 else 1


@onnx_op("BatchNormalization", since=1, layout=CHANNEL)
def batch_norm(ctx: Any) -> Any:
    # Opsets 1-13 carry is_test/spatial/momentum for training; like ONNX Runtime we convert inference only.
    x, scale, bias, mean, var = ctx.inputs[:5]
    return _batch_norm_apply(x, scale, bias, mean, var, ctx.attr("epsilon", 1e-5), _channel_axis(ctx))


@onnx_op("BatchNormalization", since=14, layout=CHANNEL)
def batch_norm_14(ctx: Any) -> Any:
    import tensorflow as tf

    x, scale, bias, mean, var = ctx.inputs[:5]
    eps = ctx.attr("epsilon", 1e-5)
    axis = _channel_axis(ctx)
    if ctx.training is not None:  # a trainable SavedModel: its ``training`` argument decides
        return _batch_norm_switched(ctx, x, scale, bias, mean, var, eps, axis)
    if not ctx.attr("training_mode", 0):
        return _batch_norm_apply(x, scale, bias, mean, var, eps, axis)
    # training: normalise with the batch statistics (population variance), update the running ones
    rank = x.shape.rank
    axes = [a for a in range(rank) if a != axis]
    batch_mean = tf.reduce_mean(x, axis=axes)
    batch_var = tf.reduce_mean(tf.square(x - _per_channel(batch_mean, rank, axis)), axis=axes)
    momentum = ctx.attr("momentum", 0.9)
    running_mean = tf.cast(mean, x.dtype) * momentum + batch_mean * (1 - momentum)
    running_var = tf.cast(var, x.dtype) * momentum + batch_var * (1 - momentum)
    y = _batch_norm_apply(x, scale, bias, batch_mean, batch_var, eps, axis)
    return [y, tf.cast(running_mean, mean.dtype), tf.cast(running_var, var.dtype)]


def _batch_norm_switched(ctx: Any, x: Any, scale: Any, bias: Any, mean: Any, var: Any, eps: float,
                         axis: int) -> Any:
    """BatchNorm as PyTorch runs it: in training, normalise with the batch's statistics (biased variance)
    and move the running statistics (the variables behind ``mean`` and ``var``) towards them with the
    unbiased variance; in inference, use the running statistics."""
    import tensorflow as tf

    if not ctx.training:
        return _batch_norm_apply(x, scale, bias, mean, var, eps, axis)
    axes = [a for a in range(x.shape.rank) if a != axis]
    batch_mean, batch_var = tf.nn.moments(x, axes=axes)
    momentum = float(ctx.attr("momentum", 0.9))  # ONNX's momentum is the running statistics' weight
    count = tf.cast(tf.size(x) // tf.shape(x)[axis], x.dtype)
    unbiased = batch_var * count / tf.maximum(count - 1, 1)
    outputs = [_batch_norm_apply(x, scale, bias, batch_mean, batch_var, eps, axis)]
    for name, running, batch in ((ctx.node.input[3], mean, batch_mean), (ctx.node.input[4], var, unbiased)):
        updated = tf.cast(running, x.dtype) * momentum + batch * (1 - momentum)
        variable = ctx.variable(name)
        if variable is not None:
            variable.assign(tf.cast(updated, variable.dtype))
        outputs.append(tf.cast(updated, running.dtype))
    return outputs[: max(1, ctx.num_outputs)]


def _normalize(x: Any, axes: list[int], eps: float, dtype: Any) -> tuple[Any, Any, Any]:
    """(x - mean) / sqrt(var + eps) over ``axes`` computed in ``dtype``; also mean and 1/std (kept dims)."""
    import tensorflow as tf

    xs = tf.cast(x, dtype)
    mean = tf.reduce_mean(xs, axis=axes, keepdims=True)
    diff = xs - mean
    var = tf.reduce_mean(tf.square(diff), axis=axes, keepdims=True)
    inv_std = tf.math.rsqrt(var + tf.cast(eps, dtype))
    return diff * inv_std, mean, inv_std


@onnx_op("InstanceNormalization", since=1, layout=CHANNEL)
def instance_norm(ctx: Any) -> Any:
    x, scale, bias = ctx.inputs[:3]
    rank = x.shape.rank
    axis = _channel_axis(ctx)
    spatial = [ctx.physical_axis(a) for a in range(2, rank)]
    y, _, _ = _normalize(x, spatial, ctx.attr("epsilon", 1e-5), x.dtype)
    return channel_affine(y, scale, bias, axis)


def grouped_norm(x: Any, channel_axis: int, groups: int, eps: float, dtype: Any, batch_axis: int = 0) -> Any:
    """``x`` normalised over each of ``groups`` runs of consecutive channels (along ``channel_axis``) and every
    axis but ``batch_axis``, statistics in ``dtype``: GroupNormalization without its affine, in any layout.

    Each moment is taken per channel over the other axes as they lie (for NHWC, the reduction of global
    average pooling), then averaged within the group. TFLite's kernels run that far faster than one mean over
    the split (N, H, W, G, C/G) tensor's axes 1, 2 and 4: 1.3 against 2.0 ms on (1, 64, 64, 320), 32 groups."""
    import tensorflow as tf

    dims, rank = x.shape.as_list(), x.shape.rank
    others = [a for a in range(rank) if a not in (batch_axis, channel_axis)]
    shape = tf.shape(x) if None in dims else dims
    per = shape[channel_axis] // groups

    def around(inner: list[Any], keep_batch: bool) -> Any:  # x's axes with the channel axis replaced by ``inner``
        outer = [shape[a] if keep_batch or a == batch_axis else 1 for a in range(rank)]
        flat = [*outer[:channel_axis], *inner, *outer[channel_axis + 1:]]
        return tf.stack(flat) if None in dims else flat

    split, kept = around([groups, per], True), around([groups, per], False)

    def group_mean(t: Any) -> Any:  # (rank-r, per channel) -> split layout, one value per (batch, group)
        per_channel = tf.reshape(tf.reduce_mean(t, others, keepdims=True), kept)
        return tf.reduce_mean(per_channel, [channel_axis + 1], keepdims=True)

    xs = tf.cast(x, dtype)
    diff = tf.reshape(xs, split) - group_mean(xs)
    var = group_mean(tf.reshape(tf.square(diff), shape))
    y = diff * tf.math.rsqrt(var + tf.cast(eps, dtype))
    return tf.reshape(tf.cast(y, x.dtype), shape)


def _group_norm(ctx: Any, per_group_params: bool) -> Any:
    import tensorflow as tf

    x, scale, bias = ctx.inputs[:3]
    groups = int(ctx.attr("num_groups"))
    axis = _channel_axis(ctx)
    y = grouped_norm(x, axis, groups, ctx.attr("epsilon", 1e-5), _stash(ctx, x), ctx.physical_axis(0))
    scale, bias = tf.cast(scale, x.dtype), tf.cast(bias, x.dtype)
    if per_group_params:  # opset 18: one scale/bias per group, shared by its channels
        per = tf.shape(x)[axis] // groups
        scale, bias = tf.repeat(scale, per), tf.repeat(bias, per)
    return channel_affine(y, scale, bias, axis)


@onnx_op("GroupNormalization", since=18, layout=CHANNEL)
def group_norm_18(ctx: Any) -> Any:
    return _group_norm(ctx, per_group_params=True)


@onnx_op("GroupNormalization", since=21, layout=CHANNEL)
def group_norm_21(ctx: Any) -> Any:
    return _group_norm(ctx, per_group_params=False)


@onnx_op("LayerNormalization", since=17)
def layer_norm(ctx: Any) -> Any:
    import tensorflow as tf

    x, scale = ctx.inputs[0], ctx.inputs[1]
    bias = ctx.input(2)
    rank = x.shape.rank
    axis = norm_axis(int(ctx.attr("axis", -1)), rank)
    dtype = _stash(ctx, x)
    y, mean, inv_std = _normalize(x, list(range(axis, rank)), ctx.attr("epsilon", 1e-5), dtype)
    y = tf.cast(y, x.dtype) * tf.cast(scale, x.dtype)
    if bias is not None:
        y = y + tf.cast(bias, x.dtype)
    return [y, mean, inv_std]


@onnx_op("RMSNormalization", since=23)
def rms_norm(ctx: Any) -> Any:
    import tensorflow as tf

    x, scale = ctx.inputs[0], ctx.inputs[1]
    rank = x.shape.rank
    axis = norm_axis(int(ctx.attr("axis", -1)), rank)
    dtype = _stash(ctx, x)
    xs = tf.cast(x, dtype)
    ms = tf.reduce_mean(tf.square(xs), axis=list(range(axis, rank)), keepdims=True)
    y = xs * tf.math.rsqrt(ms + tf.cast(ctx.attr("epsilon", 1e-5), dtype))
    return tf.cast(y, x.dtype) * tf.cast(scale, x.dtype)


@onnx_op("LRN", since=1, layout=CHANNEL)
def lrn(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    size = int(ctx.attr("size"))
    alpha, beta, bias = ctx.attr("alpha", 1e-4), ctx.attr("beta", 0.75), ctx.attr("bias", 1.0)
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    sq = tf.square(x)
    axis, rank = _channel_axis(ctx), x.shape.rank
    padded = tf.pad(sq, [[before, after] if a == axis else [0, 0] for a in range(rank)])
    channels = tf.shape(x)[axis]

    def shifted(i: int) -> Any:
        return padded[(slice(None),) * axis + (slice(i, i + channels),)]

    # the window sum over channels [c - before, c + after] as `size` shifted slices
    window = tf.add_n([shifted(i) for i in range(size)]) if size > 1 else sq
    return x / tf.pow(tf.cast(bias, x.dtype) + tf.cast(alpha / size, x.dtype) * window, tf.cast(beta, x.dtype))


@onnx_op("LpNormalization", since=1, layout=AXIS)
def lp_norm(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    axis = norm_axis(int(ctx.attr("axis", -1)), x.shape.rank)
    p = int(ctx.attr("p", 2))
    if p == 1:
        norm = tf.reduce_sum(tf.abs(x), axis=axis, keepdims=True)
    elif p == 2:
        norm = tf.sqrt(tf.reduce_sum(tf.square(x), axis=axis, keepdims=True))
    else:
        raise ctx.unsupported(f"p={p} (ONNX allows 1 or 2)")
    return tf.where(norm == 0, tf.zeros_like(x), x / norm)  # 0/0 gives 0, as the spec says


@onnx_op("MeanVarianceNormalization", since=9)
def mean_variance_norm(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    axes = [norm_axis(a, x.shape.rank) for a in ctx.attr("axes", [0, 2, 3])]
    # the function body: (X - E[X]) / (sqrt(E[X^2] - E[X]^2) + 1e-9)
    mean = tf.reduce_mean(x, axis=axes, keepdims=True)
    var = tf.reduce_mean(tf.square(x), axis=axes, keepdims=True) - tf.square(mean)
    return (x - mean) / (tf.sqrt(var) + tf.cast(1e-9, x.dtype))
