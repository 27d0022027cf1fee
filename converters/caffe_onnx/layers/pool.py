"""Pooling: MAX and AVE, global or windowed, with Caffe's output size and average divisor.

Caffe rounds the output size up (``ceil``) unless ``round_mode: FLOOR`` (or ``ceil_mode: false``), then
drops a last window that would start inside the padding. ONNX pools in floor mode here with the end
padding widened to give exactly that size. Caffe's average divides by the window clipped to the padded
input (padding counts, the widened end does not); where that differs from both of ONNX's divisors, the
sum is rescaled by a constant map of Caffe's divisors.
"""

from __future__ import annotations

from typing import Any

from bridge_converters.caffe_onnx.layers._util import spatial
from bridge_converters.caffe_onnx.registry import caffe_layer

_MAX, _AVE = 0, 1


def _output_size(size: int, kernel: int, stride: int, pad: int, ceil: bool) -> int:
    span = size + 2 * pad - kernel
    out = (-(-span // stride) if ceil else span // stride) + 1
    if pad and (out - 1) * stride >= size + pad:  # the last window would start in the padding
        out -= 1
    return out


def _divisors(size: int, out: int, kernel: int, stride: int, pad: int) -> tuple[list[int], list[int]]:
    """Per output index: Caffe's divisor (window clipped to the padded input) and the valid-element count."""
    caffe, valid = [], []
    for i in range(out):
        start = i * stride - pad
        end = min(start + kernel, size + pad)
        caffe.append(end - start)
        valid.append(min(end, size) - max(start, 0))
    return caffe, valid


@caffe_layer("Pooling")
def pooling(ctx: Any) -> None:
    import numpy as np

    param = ctx.param("pooling_param")
    ctx.expect_bottoms(1)
    ctx.expect_tops(1)
    shape = ctx.bottom_shape(0)
    if len(shape) != 4:
        raise ctx.unsupported(f"on a {len(shape)}-d bottom (Caffe pools 4-d blobs)")
    if param.pool not in (_MAX, _AVE):
        raise ctx.unsupported("STOCHASTIC pooling")
    x, (height, width) = ctx.bottom(0), shape[2:]
    if param.global_pooling:
        op = "GlobalMaxPool" if param.pool == _MAX else "GlobalAveragePool"
        ctx.top(0, op, [x], (*shape[:2], 1, 1))
        return
    if param.HasField("kernel_h") or param.HasField("kernel_w"):
        kernel = [int(param.kernel_h), int(param.kernel_w)]
    else:
        kernel = spatial(ctx, param, "kernel_size", None, 2)
    stride = spatial(ctx, param, "stride", 1, 2)
    pad = spatial(ctx, param, "pad", 0, 2)
    if any(k <= 0 for k in kernel) or any(s <= 0 for s in stride):
        raise ctx.fail("needs a positive kernel and stride")
    if any(p >= k for p, k in zip(pad, kernel)):
        raise ctx.fail(f"has pad {pad} not smaller than its kernel {kernel}")
    ceil = param.round_mode != 1 and not (param.HasField("ceil_mode") and not param.ceil_mode)
    outs = [_output_size(s, k, st, p, ceil) for s, k, st, p in zip((height, width), kernel, stride, pad)]
    if any(o <= 0 for o in outs):
        raise ctx.fail(f"makes an empty output from a bottom of {list(shape)}")
    pad_end = [max(0, (o - 1) * st + k - s - p) for o, st, k, s, p in zip(outs, stride, kernel, (height, width), pad)]
    attrs = dict(kernel_shape=kernel, strides=stride, pads=pad + pad_end)
    out_shape = (*shape[:2], *outs)
    if param.pool == _MAX:
        ctx.top(0, "MaxPool", [x], out_shape, **attrs)
        return
    (ch, vh), (cw, vw) = (_divisors(s, o, k, st, p) for s, o, k, st, p in zip((height, width), outs, kernel, stride, pad))
    caffe = np.outer(ch, cw)
    full = kernel[0] * kernel[1]
    if (caffe == full).all():
        ctx.top(0, "AveragePool", [x], out_shape, count_include_pad=1, **attrs)
    elif (caffe == np.outer(vh, vw)).all():
        ctx.top(0, "AveragePool", [x], out_shape, count_include_pad=0, **attrs)
    else:
        mean = ctx.node("AveragePool", [x], out_shape, "full_window_mean", count_include_pad=1, **attrs)
        rescale = ctx.const((full / caffe).astype(np.float32).reshape(1, 1, *outs), "divisor_rescale")
        ctx.top(0, "Mul", [mean, rescale], out_shape)
