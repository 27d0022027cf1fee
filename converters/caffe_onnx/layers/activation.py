"""Element-wise activations and their Caffe parameters: ReLU, ReLU6, PReLU, Sigmoid, TanH, ELU, AbsVal,
Power, Exp, Log, BNLL; Softmax; Dropout (identity at inference)."""

from __future__ import annotations

import math
from typing import Any

from bridge_converters.caffe_onnx.layers._util import scalar
from bridge_converters.caffe_onnx.registry import caffe_layer


def _unary(ctx: Any, op: str, **attrs: Any) -> None:
    ctx.expect_bottoms(1)
    ctx.expect_tops(1)
    ctx.top(0, op, [ctx.bottom(0)], **attrs)


@caffe_layer("ReLU")
def relu(ctx: Any) -> None:
    slope = float(ctx.param("relu_param").negative_slope)
    if slope:
        _unary(ctx, "LeakyRelu", alpha=slope)
    else:
        _unary(ctx, "Relu")


@caffe_layer("ReLU6")
def relu6(ctx: Any) -> None:
    ctx.expect_bottoms(1)
    ctx.top(0, "Clip", [ctx.bottom(0), scalar(ctx, 0.0, "min"), scalar(ctx, 6.0, "max")])


@caffe_layer("Sigmoid")
def sigmoid(ctx: Any) -> None:
    _unary(ctx, "Sigmoid")


@caffe_layer("TanH")
def tanh(ctx: Any) -> None:
    _unary(ctx, "Tanh")


@caffe_layer("AbsVal")
def absval(ctx: Any) -> None:
    _unary(ctx, "Abs")


@caffe_layer("BNLL")
def bnll(ctx: Any) -> None:
    _unary(ctx, "Softplus")  # log(1 + exp(x))


@caffe_layer("ELU")
def elu(ctx: Any) -> None:
    _unary(ctx, "Elu", alpha=float(ctx.param("elu_param").alpha))


@caffe_layer("Dropout")
def dropout(ctx: Any) -> None:
    _unary(ctx, "Identity")  # Caffe scales at training time: the TEST phase passes values through


@caffe_layer("PReLU")
def prelu(ctx: Any) -> None:
    ctx.expect_bottoms(1)
    shape = ctx.bottom_shape(0)
    if len(shape) < 2:
        raise ctx.fail(f"needs a bottom with channels, got shape {list(shape)}")
    shared = ctx.param("prelu_param").channel_shared
    (slope,) = ctx.blobs((1,) if shared else (shape[1],))
    slope = slope if shared else slope.reshape(shape[1], *([1] * (len(shape) - 2)))
    ctx.top(0, "PRelu", [ctx.bottom(0), ctx.const(slope, "slope")])


def _chain(ctx: Any, steps: list[tuple[str, list[str], str]]) -> None:
    """Apply ``(op, extra inputs, what)`` in turn to bottom 0; the last step makes top 0 (an Identity when
    there is no step)."""
    x = ctx.bottom(0)
    shape = ctx.shape(x)
    if not steps:
        ctx.top(0, "Identity", [x])
    for k, (op, extra, what) in enumerate(steps):
        if k == len(steps) - 1:
            ctx.top(0, op, [x, *extra], shape)
        else:
            x = ctx.node(op, [x, *extra], shape, what)


def _affine(ctx: Any, scale: float, shift: float) -> list[tuple[str, list[str], str]]:
    steps = []
    if scale != 1.0:
        steps.append(("Mul", [scalar(ctx, scale, "scale")], "scale"))
    if shift != 0.0:
        steps.append(("Add", [scalar(ctx, shift, "shift")], "shift"))
    return steps


@caffe_layer("Power")
def power(ctx: Any) -> None:
    """y = (shift + scale * x) ^ power."""
    ctx.expect_bottoms(1)
    p = ctx.param("power_param")
    steps = _affine(ctx, float(p.scale), float(p.shift))
    if float(p.power) != 1.0:
        steps.append(("Pow", [scalar(ctx, float(p.power), "power")], "pow"))
    _chain(ctx, steps)


@caffe_layer("Exp")
def exp(ctx: Any) -> None:
    """y = base ^ (shift + scale * x), computed as Caffe does: base^shift * exp(ln(base) * scale * x)."""
    ctx.expect_bottoms(1)
    p = ctx.param("exp_param")
    base = float(p.base)
    if base != -1.0 and base <= 0:
        raise ctx.fail(f"has base {base}; it must be positive (or -1 for e)")
    log_base = 1.0 if base == -1.0 else math.log(base)
    steps = _affine(ctx, log_base * float(p.scale), 0.0) + [("Exp", [], "exp")]
    outer = math.exp(float(p.shift) * log_base)
    if outer != 1.0:
        steps.append(("Mul", [scalar(ctx, outer, "outer_scale")], "outer"))
    _chain(ctx, steps)


@caffe_layer("Log")
def log(ctx: Any) -> None:
    """y = log_base(shift + scale * x)."""
    ctx.expect_bottoms(1)
    p = ctx.param("log_param")
    base = float(p.base)
    if base != -1.0 and (base <= 0 or base == 1.0):
        raise ctx.fail(f"has base {base}; it must be positive and not 1 (or -1 for e)")
    steps = _affine(ctx, float(p.scale), float(p.shift)) + [("Log", [], "log")]
    if base != -1.0:
        steps.append(("Mul", [scalar(ctx, 1.0 / math.log(base), "base_scale")], "base"))
    _chain(ctx, steps)


@caffe_layer("Softmax")
def softmax(ctx: Any) -> None:
    ctx.expect_bottoms(1)
    shape = ctx.bottom_shape(0)
    _unary(ctx, "Softmax", axis=ctx.axis(ctx.param("softmax_param").axis, len(shape)))

