"""Pooling: MaxPool, AveragePool and the global pools."""

from __future__ import annotations

from typing import Any

from converters.onnx_tf.ops._common import spatial_pads, static_shape, to_channels_first, to_channels_last
from converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


def _ceil_extra(size: int | None, k: int, s: int, d: int, pad: tuple[int, int], ceil: bool) -> int:
    """Extra end padding so a ceil_mode window count comes out of a VALID pool."""
    if not ceil or size is None:
        return 0
    eff = (k - 1) * d + 1
    total = size + pad[0] + pad[1]
    out_floor = (total - eff) // s + 1
    out_ceil = -(-(total - eff) // s) + 1
    # the last window must start inside the input or its left padding
    if (out_ceil - 1) * s >= size + pad[0]:
        out_ceil -= 1
    return max(0, (out_ceil - out_floor) * s)


def _pool(ctx: Any, kind: str) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    kernel = list(ctx.attr("kernel_shape"))
    n = len(kernel)
    strides = list(ctx.attr("strides", [1] * n))
    dilations = list(ctx.attr("dilations", [1] * n))
    in_spatial = static_shape(x)[2:]
    pads = spatial_pads(ctx, in_spatial, kernel, strides, dilations)
    ceil = bool(ctx.attr("ceil_mode", 0))
    extra = [_ceil_extra(in_spatial[i], kernel[i], strides[i], dilations[i], pads[i], ceil) for i in range(n)]
    xl = to_channels_last(x)
    full = [[0, 0], *[[p[0], p[1] + e] for p, e in zip(pads, extra)], [0, 0]]
    padded = any(v for pair in full for v in pair)
    if kind == "MAX":
        if padded:
            low = x.dtype.min if x.dtype.is_floating or x.dtype.is_integer else 0
            xl = tf.pad(xl, full, constant_values=tf.cast(-float("inf") if x.dtype.is_floating else low, x.dtype))
        y = tf.nn.pool(xl, kernel, "MAX", strides=strides, dilations=dilations, padding="VALID")
        return to_channels_first(y)
    include_pad = bool(ctx.attr("count_include_pad", 0))
    summed = tf.nn.pool(tf.pad(xl, full) if padded else xl, kernel, "AVG", strides=strides,
                        dilations=dilations, padding="VALID")
    if not padded:
        return to_channels_first(summed)
    ones = tf.ones_like(xl[..., :1])
    if include_pad:
        # explicit pads count, the ceil_mode extension does not
        ones = tf.pad(ones, [[0, 0], *[[p[0], p[1]] for p in pads], [0, 0]], constant_values=1.0)
        mask = tf.pad(ones, [[0, 0], *[[0, e] for e in extra], [0, 0]])
    else:
        mask = tf.pad(ones, full)
    count = tf.nn.pool(mask, kernel, "AVG", strides=strides, dilations=dilations, padding="VALID")
    return to_channels_first(summed / count)


@onnx_op("MaxPool", since=1)
def max_pool(ctx: Any) -> Any:
    if ctx.output_used(1):
        raise ctx.unsupported("the Indices output is not supported")
    return _pool(ctx, "MAX")


@onnx_op("AveragePool", since=1)
def average_pool(ctx: Any) -> Any:
    return _pool(ctx, "AVG")


@onnx_op("GlobalAveragePool", since=1)
def global_average_pool(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    return tf.reduce_mean(x, axis=list(range(2, x.shape.rank)), keepdims=True)


@onnx_op("GlobalMaxPool", since=1)
def global_max_pool(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    return tf.reduce_max(x, axis=list(range(2, x.shape.rank)), keepdims=True)
