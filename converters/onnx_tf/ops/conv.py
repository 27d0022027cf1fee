"""Convolutions: Conv, ConvTranspose, ConvInteger, QLinearConv.

ONNX is channels-first; TF's CPU kernels want channels-last. The handlers declare a ChannelsLast layout
rule, so their data input arrives channels-last and the weight in TF's filter layout (passes/layout.py):
the walker transposes only where a tensor is not already so. ONNX's pads are given to the TF kernels as
explicit padding (or applied with tf.pad where a kernel has none), which makes every pads/auto_pad case exact.
"""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.ops._common import (bias_add, data_in, data_out, exact_in_float32, kernel_in, same_pads,
                                                   spatial_pads, static_shape)
from bridge_converters.onnx_tf.ops.linalg import np_matmul
from bridge_converters.onnx_tf.passes.layout import CONV, QLINEAR_CONV
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


def _dilate_kernel(w: Any, axes: list[int], dilations: list[int]) -> Any:
    """Insert d-1 zeros between kernel taps along ``axes``: the same result as a dilated kernel, for the TF
    kernels that refuse dilations (Conv3D on CPU, transposed convs, strided+dilated)."""
    import tensorflow as tf

    for axis, d in zip(axes, dilations):
        if d == 1:
            continue
        shape = static_shape(w)
        k = shape[axis]
        stacked = tf.stack([w] + [tf.zeros_like(w)] * (d - 1), axis=axis + 1)
        w = tf.reshape(stacked, shape[:axis] + [k * d] + shape[axis + 1:])
        w = tf.gather(w, tf.range((k - 1) * d + 1), axis=axis)
    return w


def conv_channels_last(xl: Any, wl: Any, strides: list[int], dilations: list[int], group: int,
                       pads: Any = None, differentiable: bool = False) -> Any:
    """N-D convolution of channels-last ``xl`` (N, *spatial, C) with ``wl`` (*k, C/group, M).

    ``pads`` is a list of (begin, end) per spatial axis (None: no padding) or "SAME" (TF's SAME, which is
    ONNX's SAME_UPPER). ``differentiable`` (trainable SavedModels) runs a grouped 2-D convolution group by
    group, since TF on the CPU has no gradient for grouped Conv2D.
    """
    import tensorflow as tf

    n = len(strides)
    pads = pads if pads is not None else [(0, 0)] * n
    k_shape = static_shape(wl)
    if pads != "SAME" and any(p != (0, 0) for p in pads):
        # explicit pads that are exactly TF's SAME padding: no separate PAD op (TFLite's convs pad SAME only)
        eff = [(k - 1) * d + 1 for k, d in zip(k_shape[:n], dilations)]
        if same_pads(static_shape(xl)[1:-1], eff, strides, [1] * n) == [tuple(p) for p in pads]:
            pads = "SAME"
    if n == 1:  # run 1-D as 2-D with a unit height
        pads2 = pads if pads == "SAME" else [(0, 0), *pads]
        y = conv_channels_last(xl[:, tf.newaxis], wl[tf.newaxis], [1, *strides], [1, *dilations], group, pads2,
                               differentiable)
        return y[:, 0]
    if pads == "SAME":
        padding: Any = "SAME"
    elif any(p != (0, 0) for p in pads):
        padding = [[0, 0], *[list(p) for p in pads], [0, 0]]
    else:
        padding = "VALID"
    in_per_group, out_ch = k_shape[-2], k_shape[-1]
    if n == 2:
        if group > 1 and in_per_group == 1 and strides[0] == strides[1] and (dilations == [1, 1] or strides == [1, 1]):
            # depthwise: (kh, kw, 1, M) -> (kh, kw, C, M/C); output channel c*mult + k reads input channel c
            dw = tf.reshape(wl, [k_shape[0], k_shape[1], group, out_ch // group])
            if isinstance(padding, list):  # explicit padding aborts inside DepthwiseConv2dNative: pad first
                xl, padding = tf.pad(xl, padding), "VALID"
            return tf.nn.depthwise_conv2d(xl, dw, strides=[1, *strides, 1], padding=padding, dilations=dilations)
        if _small_pointwise(xl, k_shape, strides, padding, group):
            return np_matmul(xl, tf.reshape(wl, k_shape[2:]))
        if group > 1 and differentiable:
            return tf.concat([conv_channels_last(a, b, strides, dilations, 1, pads) for a, b in
                              zip(tf.split(xl, group, axis=-1), tf.split(wl, group, axis=-1))], -1)
        # Conv2D takes grouped filters (input depth a multiple of the filter's), strides with dilations and
        # explicit padding (cheaper than a separate tf.pad)
        return tf.nn.conv2d(xl, wl, strides=[1, *strides, 1], padding=padding, dilations=[1, *dilations, 1])
    if n != 3:
        raise ValueError(f"{n}-D convolution")
    if isinstance(padding, list):  # Conv3D has no explicit padding
        xl, padding = tf.pad(xl, padding), "VALID"
    if any(d > 1 for d in dilations):  # CPU Conv3D has no dilations
        wl = _dilate_kernel(wl, [0, 1, 2], dilations)
    if group == 1:
        return tf.nn.conv3d(xl, wl, strides=[1, *strides, 1], padding=padding)
    xs = tf.split(xl, group, axis=-1)
    ws = tf.split(wl, group, axis=-1)
    return tf.concat([tf.nn.conv3d(a, b, strides=[1, *strides, 1], padding=padding) for a, b in zip(xs, ws)], -1)


# MACs up to which a 1x1 convolution is written as a MatMul. With oneDNN (TF's default on recent x86 CPUs)
# every Conv2D call costs some 50 us of dispatch on top of its arithmetic, a 2-D MatMul almost none: on a
# 16x16x32 map the MatMul takes a quarter of the time, from about 10M MACs both take the same (measured in
# one process, 2 threads). Larger convolutions stay CONV_2D in TFLite, where XNNPACK runs either as fast.
_POINTWISE_MAX_MACS = 1 << 22


def _small_pointwise(xl: Any, k_shape: list[int], strides: list[int], padding: Any, group: int) -> bool:
    """Whether a 2-D convolution is 1x1, unstrided, unpadded (SAME pads a 1x1 kernel by nothing), ungrouped
    and small enough to be a MatMul: ``np_matmul``'s (N*H*W, C) x (C, M) product between reshapes, its
    bias and activation still fused."""
    import numpy as np

    shape = static_shape(xl)
    pointwise = group == 1 and k_shape[:2] == [1, 1] and strides == [1, 1] and padding in ("VALID", "SAME")
    return pointwise and None not in shape and int(np.prod(shape, dtype=np.int64)) * k_shape[-1] <= _POINTWISE_MAX_MACS


def _conv_pads(ctx: Any, xl: Any, kernel: list[int], strides: list[int], dilations: list[int]) -> Any:
    """Static (begin, end) pads; with auto_pad SAME and unknown spatial sizes, "SAME" (upper) or a tensor."""
    import tensorflow as tf

    auto_pad = ctx.attr("auto_pad", "NOTSET")
    spatial = static_shape(xl)[1:-1]
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER") or all(d is not None for d in spatial):
        return spatial_pads(ctx, spatial, kernel, strides, dilations)
    if auto_pad == "SAME_UPPER":
        return "SAME"
    sizes = tf.shape(xl)[1:-1]
    pads = []
    for i, (k, s, d) in enumerate(zip(kernel, strides, dilations)):
        out = (sizes[i] + s - 1) // s
        total = tf.maximum(0, (out - 1) * s + (k - 1) * d + 1 - sizes[i])
        pads.append(tf.stack([total - total // 2, total // 2]))  # SAME_LOWER: the larger half first
    return tf.stack([[0, 0], *pads, [0, 0]])


def _conv(ctx: Any, xl: Any, wl: Any) -> Any:
    """ONNX convolution (no bias) of channels-last ``xl`` by ``wl`` in TF's filter layout, channels-last."""
    import tensorflow as tf

    w_shape = static_shape(wl)
    n = len(w_shape) - 2
    if n < 1 or n > 3 or any(d is None for d in w_shape):
        raise ctx.unsupported("the weight needs a static shape and 1 to 3 spatial axes")
    kernel = list(ctx.attr("kernel_shape", w_shape[:n]))
    strides = list(ctx.attr("strides", [1] * n))
    dilations = list(ctx.attr("dilations", [1] * n))
    pads = _conv_pads(ctx, xl, kernel, strides, dilations)
    if tf.is_tensor(pads):
        xl, pads = tf.pad(xl, pads), None
    return conv_channels_last(xl, wl, strides, dilations, int(ctx.attr("group", 1)), pads,
                              differentiable=ctx.training is not None)


@onnx_op("Conv", since=1, layout=CONV)
def conv(ctx: Any) -> Any:
    y = _conv(ctx, data_in(ctx, rank=ctx.inputs[1].shape.rank), kernel_in(ctx, 1))
    bias = ctx.input(2)
    if bias is not None:
        y = bias_add(y, bias)
    return data_out(ctx, y)


def _int_conv_input(t: Any, zp: Any, work: Any) -> Any:
    """``t - zero_point`` in ``work`` (float32 where exact_in_float32 proves the sums exact, else float64):
    integer products and sums stay exact there. A per-channel zero point belongs to the last axis (output
    channels, in TF's filter layout)."""
    import tensorflow as tf

    t = tf.cast(t, work)
    return t if zp is None else t - tf.cast(zp, work)


def _int_conv_dtype(ctx: Any, data_zp: int, weight: int, weight_zp: int, bias: int | None = None) -> Any:
    import tensorflow as tf

    exact = exact_in_float32(ctx, 0, data_zp, weight, weight_zp, ctx.physical_axis(0, weight), bias)
    return tf.float32 if exact else tf.float64


@onnx_op("ConvInteger", since=10, layout=CONV)
def conv_integer(ctx: Any) -> Any:
    import tensorflow as tf

    work = _int_conv_dtype(ctx, 2, 1, 3)
    x = _int_conv_input(data_in(ctx), ctx.input(2), work)
    w = _int_conv_input(kernel_in(ctx, 1), ctx.input(3), work)
    # ONNX pads an integer input with its zero point, i.e. zero after the subtraction.
    return data_out(ctx, tf.cast(_conv(ctx, x, w), tf.int32))


@onnx_op("QLinearConv", since=10, layout=QLINEAR_CONV)
def qlinear_conv(ctx: Any) -> Any:
    import tensorflow as tf

    x, x_scale, x_zp, _, w_scale, w_zp, y_scale, y_zp = (ctx.input(i) for i in range(8))
    work = _int_conv_dtype(ctx, 2, 3, 5, bias=8)
    xf = _int_conv_input(data_in(ctx), x_zp, work)
    wf = _int_conv_input(kernel_in(ctx, 3), w_zp, work)
    acc = _conv(ctx, xf, wf)
    if ctx.has_input(8):
        acc = acc + tf.cast(ctx.inputs[8], work)
    # w_scale is per tensor or per output channel (the last axis here); the multiplier is taken in the
    # scales' precision. The rescale runs in float64 as numpy promotes int32 * float32, or, where the
    # accumulator is exact in float32, in float32 as ONNX Runtime's requantisation does.
    y = tf.round(acc * tf.cast(x_scale * w_scale / y_scale, work))
    out_dtype = y_zp.dtype if y_zp is not None else x.dtype
    if y_zp is not None:
        y = y + tf.cast(y_zp, work)
    y = tf.clip_by_value(y, float(out_dtype.min), float(out_dtype.max))
    return data_out(ctx, tf.cast(y, out_dtype))


# -- ConvTranspose -----------------------------------------------------------------------------------
def _transpose_pads(ctx: Any, in_spatial: list[Any], kernel_eff: list[int], strides: list[int],
                    out_pad: list[int]) -> list[tuple[Any, Any]]:
    """(begin, end) crops of the full transposed output, from pads, auto_pad or output_shape."""
    n = len(strides)
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    output_shape = ctx.attr("output_shape")
    if output_shape is None and auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        if auto_pad == "VALID":
            return [(0, 0)] * n
        flat = list(ctx.attr("pads", [0] * (2 * n)))
        return [(int(flat[i]), int(flat[i + n])) for i in range(n)]
    if output_shape is not None:
        target = list(output_shape)[-n:]
    else:
        target = [in_spatial[i] * strides[i] for i in range(n)]
    pads = []
    for i in range(n):
        total = strides[i] * (in_spatial[i] - 1) + out_pad[i] + kernel_eff[i] - target[i]
        half = total // 2
        pads.append((half, total - half) if auto_pad == "SAME_UPPER" else (total - half, half))
    return pads


def _crop(y: Any, pads: list[tuple[int, int]], out_pad: list[int]) -> Any:
    """Append ``out_pad`` zeros at each spatial end, then remove (begin, end) per axis (negative adds zeros)."""
    import tensorflow as tf

    grow = [[0, 0]] + [[max(0, -b), op + max(0, -e)] for (b, e), op in zip(pads, out_pad)] + [[0, 0]]
    if any(v for pair in grow for v in pair):
        y = tf.pad(y, grow)
    if all(b <= 0 and e <= 0 for b, e in pads):
        return y
    shape = tf.shape(y)
    begin = [0] + [max(0, b) for b, _ in pads] + [0]
    size = [-1] + [shape[i + 1] - max(0, b) - max(0, e) for i, (b, e) in enumerate(pads)] + [-1]
    return tf.slice(y, begin, size)


def _small_patch_transpose(x_shape: list[Any], k_shape: list[int], strides: list[int], dilations: list[int],
                           group: int, pads: list[Any], out_pad: list[int]) -> bool:
    """Whether a transposed 2-D convolution writes each input pixel's own square k x k patch (stride = kernel,
    no dilation, group, crop or output padding) and is small enough (``_POINTWISE_MAX_MACS``) to be a MatMul."""
    import numpy as np

    if len(strides) != 2 or None in x_shape:
        return False
    macs = int(np.prod(x_shape, dtype=np.int64)) * int(np.prod(k_shape[:3]))
    return (k_shape[0] == k_shape[1] == strides[0] == strides[1] and group == 1 and dilations == [1, 1]
            and all(tuple(p) == (0, 0) for p in pads) and not any(out_pad) and macs <= _POINTWISE_MAX_MACS)


def _patches_by_matmul(xl: Any, wk: Any) -> Any:
    """The transposed convolution of ``_small_patch_transpose``: one (N*H*W, C) x (C, k*k*M) MatMul (the weight,
    (k, k, M, C) in TF's layout, is read as (k*k*M, C), transposed by the product) and DepthToSpace, which puts
    channel (i*k + j)*M + m of pixel (h, w) at (h*k + i, w*k + j, m): every output is one dot product, as in
    the Conv2DBackpropInput it replaces, which with oneDNN costs far more a call on small maps."""
    import tensorflow as tf

    k, _, m, c = static_shape(wk)
    n, h, w, _ = static_shape(xl)
    product = tf.linalg.matmul(tf.reshape(xl, [-1, c]), tf.reshape(wk, [k * k * m, c]), transpose_b=True)
    return tf.nn.depth_to_space(tf.reshape(product, [n, h, w, k * k * m]), k)


@onnx_op("ConvTranspose", since=1, layout=CONV)
def conv_transpose(ctx: Any) -> Any:
    import tensorflow as tf

    xl, wk = data_in(ctx), kernel_in(ctx, 1)  # (N, D..., C) and (k..., M/g, C)
    k_shape = static_shape(wk)
    n = len(k_shape) - 2
    if n < 1 or n > 3 or any(d is None for d in k_shape):
        raise ctx.unsupported("the weight needs a static shape and 1 to 3 spatial axes")
    strides = list(ctx.attr("strides", [1] * n))
    dilations = list(ctx.attr("dilations", [1] * n))
    out_pad = list(ctx.attr("output_padding", [0] * n))
    group = int(ctx.attr("group", 1))
    kernel_eff = [(k - 1) * d + 1 for k, d in zip(k_shape[:n], dilations)]
    x_static = static_shape(xl)
    dyn = tf.shape(xl)
    in_spatial = [x_static[1 + i] if x_static[1 + i] is not None else dyn[1 + i] for i in range(n)]
    if ctx.attr("output_shape") is not None or ctx.attr("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
        if any(not isinstance(s, int) for s in in_spatial):
            raise ctx.unsupported("output_shape/auto_pad SAME need static spatial sizes")
    pads = _transpose_pads(ctx, in_spatial, kernel_eff, strides, out_pad)

    # TF's conv_transpose filter layout (k..., M/g, C), with the dilation made explicit
    wl = _dilate_kernel(wk, list(range(n)), dilations)
    batch = x_static[0] if x_static[0] is not None else dyn[0]
    full = [(in_spatial[i] - 1) * strides[i] + kernel_eff[i] for i in range(n)]
    out_per_group = k_shape[-2]

    def out_shape(channels: int) -> Any:
        dims = [batch, *full, channels]
        return tf.stack(dims) if any(not isinstance(v, int) for v in dims) else dims

    def transposed(a: Any, f: Any) -> Any:
        if n == 1:
            return tf.nn.conv1d_transpose(a, f, out_shape(out_per_group), strides=strides, padding="VALID")
        return tf.nn.conv_transpose(a, f, out_shape(out_per_group), strides=strides, padding="VALID")

    if _small_patch_transpose(x_static, k_shape, strides, dilations, group, pads, out_pad):
        y = _patches_by_matmul(xl, wk)
    elif group == 1:
        y = transposed(xl, wl)
    elif n == 2 and out_per_group == 1 and group == k_shape[-1] and strides[0] == strides[1]:
        # depthwise transposed: the input gradient of a depthwise conv with filter (kh, kw, C, 1)
        y = tf.nn.depthwise_conv2d_backprop_input(out_shape(group), tf.reshape(wl, [*wl.shape[:2], group, 1]), xl,
                                                  strides=[1, *strides, 1], padding="VALID")
    else:
        y = tf.concat([transposed(a, f) for a, f in zip(tf.split(xl, group, axis=-1), tf.split(wl, group, axis=-1))],
                      axis=-1)
    y = _crop(y, pads, out_pad)
    bias = ctx.input(2)
    if bias is not None:
        y = bias_add(y, bias)
    return data_out(ctx, y)


# -- DeformConv --------------------------------------------------------------------------------------
@onnx_op("DeformConv", since=19)
def deform_conv(ctx: Any) -> Any:
    """Bilinear samples at the offset kernel taps (zero outside the image), scaled by the mask, then one
    matrix product per group with the weights (im2col)."""
    import tensorflow as tf

    x, w, offset = ctx.inputs[:3]
    bias, mask = ctx.input(3), ctx.input(4)
    w_shape = static_shape(w)
    if len(w_shape) != 4 or any(d is None for d in w_shape) or x.shape[2] is None or x.shape[3] is None:
        raise ctx.unsupported("2-D DeformConv with a static weight shape and static X spatial sizes")
    out_ch, in_per_group, kh, kw = w_shape
    height, width = int(x.shape[2]), int(x.shape[3])
    sh, sw = ctx.attr("strides", [1, 1])
    dh, dw = ctx.attr("dilations", [1, 1])
    pads = list(ctx.attr("pads", [0, 0, 0, 0]))
    group, off_groups = int(ctx.attr("group", 1)), int(ctx.attr("offset_group", 1))
    f = x.dtype
    n, channels = tf.shape(x)[0], tf.shape(x)[1]
    out_h, out_w = tf.shape(offset)[2], tf.shape(offset)[3]
    k = kh * kw
    off = tf.reshape(tf.cast(offset, f), tf.stack([n, off_groups, kh, kw, 2, out_h, out_w]))
    base_h = (tf.cast(tf.range(out_h) * sh - pads[0], f)[tf.newaxis, :, tf.newaxis]
              + tf.constant([i * dh for i in range(kh)], f)[:, tf.newaxis, tf.newaxis])  # (kh, oh, 1)
    base_w = (tf.cast(tf.range(out_w) * sw - pads[1], f)[tf.newaxis, tf.newaxis, :]
              + tf.constant([j * dw for j in range(kw)], f)[:, tf.newaxis, tf.newaxis])  # (kw, 1, ow)
    ys = off[:, :, :, :, 0] + base_h[tf.newaxis, tf.newaxis, :, tf.newaxis]  # (N, G, kh, kw, oh, ow)
    xs = off[:, :, :, :, 1] + base_w[tf.newaxis, tf.newaxis, tf.newaxis]
    ys = tf.reshape(ys, tf.stack([n, off_groups, -1]))
    xs = tf.reshape(xs, tf.stack([n, off_groups, -1]))
    image = tf.reshape(x, tf.stack([n, off_groups, channels // off_groups, height * width]))
    y0, x0 = tf.floor(ys), tf.floor(xs)
    sampled = 0
    for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
        yy, xx = y0 + dy, x0 + dx
        weight = (1 - tf.abs(ys - yy)) * (1 - tf.abs(xs - xx))
        inside = (yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)
        weight = tf.where(inside, weight, tf.zeros_like(weight))
        idx = tf.cast(tf.clip_by_value(yy, 0, height - 1) * width + tf.clip_by_value(xx, 0, width - 1), tf.int32)
        sampled = sampled + tf.gather(image, idx, axis=3, batch_dims=2) * weight[:, :, tf.newaxis]
    if mask is not None:
        sampled = sampled * tf.reshape(tf.cast(mask, f), tf.stack([n, off_groups, 1, -1]))
    # (N, G_off, C/G_off, k*oh*ow) -> (N, group, C/group * k, oh*ow)
    cols = tf.reshape(sampled, tf.stack([n, group, in_per_group * k, out_h * out_w]))
    wg = tf.reshape(tf.cast(w, f), [group, out_ch // group, in_per_group * k])
    y = tf.einsum("gok,ngkp->ngop", wg, cols)
    y = tf.reshape(y, tf.stack([n, out_ch, out_h, out_w]))
    if bias is not None:
        y = y + tf.reshape(tf.cast(bias, f), [1, -1, 1, 1])
    return y
