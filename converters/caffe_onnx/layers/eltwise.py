"""Eltwise: PROD, SUM (with per-bottom coefficients) and MAX of same-shaped bottoms."""

from __future__ import annotations

from typing import Any

from bridge_converters.caffe_onnx.layers._util import scalar
from bridge_converters.caffe_onnx.registry import caffe_layer

_PROD, _SUM, _MAX = 0, 1, 2


@caffe_layer("Eltwise")
def eltwise(ctx: Any) -> None:
    ctx.expect_tops(1)
    p = ctx.param("eltwise_param")
    inputs = ctx.bottoms()
    if len(inputs) < 2:
        raise ctx.fail("needs at least 2 bottoms")
    shape = ctx.bottom_shape(0)
    if any(ctx.bottom_shape(i) != shape for i in range(len(inputs))):
        raise ctx.fail("has bottoms of different shapes")
    coeffs = [float(c) for c in p.coeff]
    if coeffs and (p.operation != _SUM or len(coeffs) != len(inputs)):
        raise ctx.fail(f"has {len(coeffs)} coeff values; SUM takes one per bottom ({len(inputs)})")
    if p.operation == _MAX:
        ctx.top(0, "Max", inputs, shape)
        return
    if p.operation == _SUM and coeffs:
        inputs = [x if c == 1.0 else ctx.node("Mul", [x, scalar(ctx, c, f"coeff{k}")], shape, f"coeff{k}")
                  for k, (x, c) in enumerate(zip(inputs, coeffs))]
    op = "Mul" if p.operation == _PROD else "Add"
    acc = inputs[0]
    for k, x in enumerate(inputs[1:], start=1):
        if k == len(inputs) - 1:
            ctx.top(0, op, [acc, x], shape)
        else:
            acc = ctx.node(op, [acc, x], shape, f"partial{k}")
