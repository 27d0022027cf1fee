"""Convolution, Deconvolution and InnerProduct."""

from __future__ import annotations

import math
from typing import Any

from bridge_converters.caffe_onnx.layers._util import reshape, spatial
from bridge_converters.caffe_onnx.registry import caffe_layer


def _geometry(ctx: Any, param: Any, n: int) -> tuple[list[int], list[int], list[int], list[int]]:
    kernel = spatial(ctx, param, "kernel", None, n) if param.HasField("kernel_h") or param.HasField("kernel_w") \
        else spatial(ctx, param, "kernel_size", None, n)
    stride = spatial(ctx, param, "stride", 1, n)
    pad = spatial(ctx, param, "pad", 0, n)
    dilation = [int(d) for d in param.dilation] or [1]
    dilation = dilation * n if len(dilation) == 1 else dilation
    if len(dilation) != n:
        raise ctx.fail(f"has {len(dilation)} dilation values for {n} spatial axes")
    if any(k <= 0 for k in kernel) or any(s <= 0 for s in stride) or any(d <= 0 for d in dilation):
        raise ctx.fail("needs positive kernel, stride and dilation")
    return kernel, stride, pad, dilation


def _conv_like(ctx: Any, transposed: bool) -> None:
    param = ctx.param("convolution_param")
    ctx.expect_tops(len(ctx.layer.bottoms))
    shape = ctx.bottom_shape(0)
    if ctx.axis(param.axis, len(shape)) != 1:
        raise ctx.unsupported("with axis other than 1")
    n = len(shape) - 2
    if n < 1:
        raise ctx.fail(f"needs a bottom with spatial axes, got shape {list(shape)}")
    kernel, stride, pad, dilation = _geometry(ctx, param, n)
    channels, group, outputs = shape[1], int(param.group), int(param.num_output)
    if outputs <= 0 or group <= 0 or channels % group or outputs % group:
        raise ctx.fail(f"has num_output {outputs} and group {group} for {channels} input channels")
    bias = param.bias_term or bool(ctx.layer.folded)
    weight_shape = (channels, outputs // group, *kernel) if transposed else (outputs, channels // group, *kernel)
    blobs = ctx.blobs(weight_shape, *([(outputs,)] if bias else []))
    inputs = [ctx.const(blobs[0], "weight")] + ([ctx.const(blobs[1], "bias")] if bias else [])
    sizes = []
    for size, k, s, p, d in zip(shape[2:], kernel, stride, pad, dilation):
        extent = d * (k - 1) + 1
        out = s * (size - 1) + extent - 2 * p if transposed else (size + 2 * p - extent) // s + 1
        if out <= 0:
            raise ctx.fail(f"makes an empty output from a bottom of {list(shape)}")
        sizes.append(out)
    attrs = dict(kernel_shape=kernel, strides=stride, pads=pad + pad, dilations=dilation, group=group)
    for i in range(len(ctx.layer.bottoms)):
        if ctx.bottom_shape(i) != shape:
            raise ctx.fail("has bottoms of different shapes")
        ctx.top(i, "ConvTranspose" if transposed else "Conv", [ctx.bottom(i), *inputs],
                (shape[0], outputs, *sizes), **attrs)


@caffe_layer("Convolution")
def convolution(ctx: Any) -> None:
    _conv_like(ctx, transposed=False)


@caffe_layer("Deconvolution")
def deconvolution(ctx: Any) -> None:
    _conv_like(ctx, transposed=True)


@caffe_layer("InnerProduct")
def inner_product(ctx: Any) -> None:
    param = ctx.param("inner_product_param")
    ctx.expect_bottoms(1)
    shape = ctx.bottom_shape(0)
    axis = ctx.axis(param.axis, len(shape))
    outer, k, n = shape[:axis], math.prod(shape[axis:]), int(param.num_output)
    if n <= 0:
        raise ctx.fail("sets no num_output")
    blobs = ctx.blobs((k, n) if param.transpose else (n, k), *([(n,)] if param.bias_term else []))
    x = ctx.bottom(0)
    if len(shape) != 2 or axis != 1:
        x = ctx.node("Flatten", [x], (math.prod(outer), k), "flatten", axis=axis)
    inputs = [x, ctx.const(blobs[0], "weight")] + ([ctx.const(blobs[1], "bias")] if param.bias_term else [])
    flat = (math.prod(outer), n)
    if len(outer) == 1:
        ctx.top(0, "Gemm", inputs, flat, transB=0 if param.transpose else 1)
    else:
        y = ctx.node("Gemm", inputs, flat, "gemm", transB=0 if param.transpose else 1)
        reshape(ctx, y, (*outer, n), top=0)
