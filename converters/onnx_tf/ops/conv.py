"""Convolutions. ONNX is channels-first; TF's CPU kernels want channels-last, so we transpose around them."""

from __future__ import annotations

from typing import Any

from converters.onnx_tf.ops._common import spatial_pads, static_shape, to_channels_first, to_channels_last
from converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


@onnx_op("Conv", since=1)
def conv(ctx: Any) -> Any:
    import tensorflow as tf

    x, w = ctx.inputs[0], ctx.inputs[1]
    bias = ctx.input(2)
    w_shape = static_shape(w)
    n = len(w_shape) - 2
    if n < 1 or any(d is None for d in w_shape):
        raise ctx.unsupported("the weight needs a static shape")
    kernel = ctx.attr("kernel_shape", w_shape[2:])
    strides = list(ctx.attr("strides", [1] * n))
    dilations = list(ctx.attr("dilations", [1] * n))
    group = int(ctx.attr("group", 1))
    x_shape = static_shape(x)
    pads = spatial_pads(ctx, x_shape[2:], list(kernel), strides, dilations)

    xl = to_channels_last(x)
    if any(p != (0, 0) for p in pads):
        xl = tf.pad(xl, [[0, 0], *pads, [0, 0]])
    # (M, C/g, k...) -> (k..., C/g, M)
    wl = tf.transpose(w, [*range(2, n + 2), 1, 0])
    out_ch, in_per_group = w_shape[0], w_shape[1]
    if group == 1:
        y = tf.nn.convolution(xl, wl, strides=strides, dilations=dilations, padding="VALID")
    elif n == 2 and in_per_group == 1 and (strides[0] == strides[1]) and (dilations == [1, 1] or strides == [1, 1]):
        # depthwise: (kh, kw, 1, M) -> (kh, kw, C, M/C); output channel c*mult + k reads input channel c
        dw = tf.reshape(wl, [kernel[0], kernel[1], group, out_ch // group])
        y = tf.nn.depthwise_conv2d(xl, dw, strides=[1, *strides, 1], padding="VALID", dilations=dilations)
    else:
        xs = tf.split(xl, group, axis=-1)
        ws = tf.split(wl, group, axis=-1)
        y = tf.concat([tf.nn.convolution(a, b, strides=strides, dilations=dilations, padding="VALID")
                       for a, b in zip(xs, ws)], axis=-1)
    if bias is not None:
        y = tf.nn.bias_add(y, bias)
    return to_channels_first(y)
