"""Normalisation and per-channel affine layers: BatchNorm, Scale, Bias, LRN, Normalize (SSD)."""

from __future__ import annotations

from typing import Any

from bridge_converters.caffe_onnx.layers._util import int64, reshape, scalar
from bridge_converters.caffe_onnx.registry import caffe_layer


def _per_axis(values: Any, rank: int, axis: int) -> Any:
    """``values`` (shaped like the covered axes) reshaped to broadcast from ``axis`` of a ``rank``-d blob."""
    return values.reshape(values.shape + (1,) * (rank - axis - values.ndim))


@caffe_layer("BatchNorm")
def batch_norm(ctx: Any) -> None:
    """Caffe keeps running sums: mean and variance are the blobs divided by the scale-factor blob."""
    import numpy as np

    ctx.expect_bottoms(1)
    ctx.expect_tops(1)
    param = ctx.param("batch_norm_param")
    if param.HasField("use_global_stats") and not param.use_global_stats:
        raise ctx.unsupported("with use_global_stats: false (statistics of the batch at inference)")
    shape = ctx.bottom_shape(0)
    if len(shape) < 2:
        raise ctx.fail(f"needs a bottom with channels, got shape {list(shape)}")
    channels = shape[1]
    mean, var, factor = ctx.blobs((channels,), (channels,), (1,))
    f = float(factor[0])
    f = 0.0 if f == 0 else 1.0 / f
    inv = 1.0 / np.sqrt(var.astype(np.float64) * f + float(param.eps))
    scale = _per_axis(inv.astype(np.float32), len(shape), 1)
    shift = _per_axis((-mean.astype(np.float64) * f * inv).astype(np.float32), len(shape), 1)
    y = ctx.node("Mul", [ctx.bottom(0), ctx.const(scale, "inv_std")], shape, "normalize")
    ctx.top(0, "Add", [y, ctx.const(shift, "shift")], shape)


def _scale_or_bias(ctx: Any, op: str, param: Any, learned_bias: bool) -> None:
    """Scale (op Mul) and Bias (op Add): the factor is bottom 1, or a blob covering ``num_axes`` axes."""
    ctx.expect_bottoms(1, 2)
    ctx.expect_tops(1)
    shape = ctx.bottom_shape(0)
    rank = len(shape)
    two = len(ctx.layer.bottoms) == 2
    covered = ctx.bottom_shape(1) if two else None
    axis = 0 if covered == () else ctx.axis(param.axis, rank) if rank else 0
    if not two:
        num_axes = int(param.num_axes)
        if num_axes < -1:
            raise ctx.fail(f"has num_axes {num_axes}")
        covered = shape[axis:] if num_axes == -1 else shape[axis:axis + num_axes]
        if num_axes != -1 and axis + num_axes > rank:
            raise ctx.fail(f"covers axes {axis}..{axis + num_axes - 1} of a {rank}-d bottom")
    elif tuple(shape[axis:axis + len(covered)]) != covered:
        raise ctx.fail(f"bottom 1 of shape {list(covered)} does not match bottom 0 {list(shape)} from axis {axis}")
    blobs = ctx.blobs(*([] if two else [covered]), *([covered] if learned_bias else []))
    trailing = (1,) * (rank - axis - len(covered)) if covered else ()  # a scalar broadcasts as it is
    if two:
        factor = ctx.bottom(1)
        if trailing:
            factor = reshape(ctx, factor, (*covered, *trailing), what="broadcast")
    else:
        factor = ctx.const(_per_axis(blobs.pop(0), rank, axis), "scale" if op == "Mul" else "bias")
    x = ctx.bottom(0)
    if learned_bias:
        y = ctx.node(op, [x, factor], shape, "scale")
        ctx.top(0, "Add", [y, ctx.const(_per_axis(blobs[0], rank, axis), "bias")], shape)
    else:
        ctx.top(0, op, [x, factor], shape)


@caffe_layer("Scale")
def scale_layer(ctx: Any) -> None:
    param = ctx.param("scale_param")
    _scale_or_bias(ctx, "Mul", param, bool(param.bias_term))


@caffe_layer("Bias")
def bias_layer(ctx: Any) -> None:
    _scale_or_bias(ctx, "Add", ctx.param("bias_param"), False)


@caffe_layer("LRN")
def lrn(ctx: Any) -> None:
    ctx.expect_bottoms(1)
    ctx.expect_tops(1)
    p = ctx.param("lrn_param")
    size, alpha, beta = int(p.local_size), float(p.alpha), float(p.beta)
    if size % 2 == 0 or size <= 0:
        raise ctx.fail(f"has local_size {size}; Caffe's LRN takes odd sizes only")
    shape = ctx.bottom_shape(0)
    if len(shape) != 4:
        raise ctx.fail(f"needs a 4-d bottom, got {list(shape)}")
    x = ctx.bottom(0)
    if p.norm_region == 0:  # ACROSS_CHANNELS: x / (k + alpha/n * sum of squares over n channels)^beta
        ctx.top(0, "LRN", [x], shape, size=size, alpha=alpha, beta=beta, bias=float(p.k))
        return
    # WITHIN_CHANNEL: x * (1 + alpha * mean of squares over a size x size window, zero padded)^-beta
    pad = (size - 1) // 2
    square = ctx.node("Mul", [x, x], shape, "square")
    mean = ctx.node("AveragePool", [square], shape, "window_mean", kernel_shape=[size, size],
                    pads=[pad] * 4, strides=[1, 1], count_include_pad=1)
    scaled = ctx.node("Mul", [mean, scalar(ctx, alpha, "alpha")], shape, "alpha_mean")
    shifted = ctx.node("Add", [scaled, scalar(ctx, 1.0, "one")], shape, "one_plus")
    factor = ctx.node("Pow", [shifted, scalar(ctx, -beta, "neg_beta")], shape, "factor")
    ctx.top(0, "Mul", [x, factor], shape)


@caffe_layer("Normalize")
def normalize(ctx: Any) -> None:
    """SSD's L2 normalisation: x / sqrt(sum of squares + eps), over C*H*W (across_spatial) or over C at
    each position, times a learned scale (one, or one per channel)."""
    ctx.expect_bottoms(1)
    ctx.expect_tops(1)
    p = ctx.param("norm_param")
    shape = ctx.bottom_shape(0)
    if len(shape) < 2:
        raise ctx.fail(f"needs a bottom with channels, got {list(shape)}")
    (scale,) = ctx.blobs((1,) if p.channel_shared else (shape[1],))
    x = ctx.bottom(0)
    axes = list(range(1, len(shape))) if p.across_spatial else [1]
    reduced = tuple(1 if i in axes else d for i, d in enumerate(shape))
    square = ctx.node("Mul", [x, x], shape, "square")
    total = ctx.node("ReduceSum", [square, int64(ctx, axes, "axes")], reduced, "sum_of_squares", keepdims=1)
    shifted = ctx.node("Add", [total, scalar(ctx, float(p.eps), "eps")], reduced, "plus_eps")
    norm = ctx.node("Sqrt", [shifted], reduced, "norm")
    y = ctx.node("Div", [x, norm], shape, "normalized")
    factor = scale if p.channel_shared else _per_axis(scale, len(shape), 1)
    ctx.top(0, "Mul", [y, ctx.const(factor, "scale")], shape)
