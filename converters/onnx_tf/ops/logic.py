"""Comparisons, boolean logic, Where, bit shifts and bitwise ops."""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.ops.elementwise import legacy_broadcast
from bridge_converters.onnx_tf.passes.layout import ELEMENTWISE
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


def _tf() -> Any:
    import tensorflow as tf

    return tf


def _binary(ctx: Any) -> tuple[Any, Any]:
    a, b = ctx.inputs[0], ctx.inputs[1]
    if ctx.opset < 7:
        b = legacy_broadcast(ctx, a, b)
    return a, b


# op_type -> (since, TF function name); later versions only add dtypes. Opset 1 versions carry the
# legacy broadcast attributes, which ``_binary`` handles.
_BINARY = {
    "Equal": (1, "equal"), "Greater": (1, "greater"), "Less": (1, "less"),
    "GreaterOrEqual": (12, "greater_equal"), "LessOrEqual": (12, "less_equal"),
    "And": (1, "logical_and"), "Or": (1, "logical_or"), "Xor": (1, "math.logical_xor"),
    "BitwiseAnd": (18, "bitwise.bitwise_and"), "BitwiseOr": (18, "bitwise.bitwise_or"),
    "BitwiseXor": (18, "bitwise.bitwise_xor"),
}


def _resolve(name: str) -> Any:
    f = _tf()
    for part in name.split("."):
        f = getattr(f, part)
    return f


def _binary_handler(name: str) -> Any:
    def handler(ctx: Any) -> Any:
        return _resolve(name)(*_binary(ctx))

    return handler


for _op, (_since, _name) in _BINARY.items():
    _h = _binary_handler(_name)
    _h.__name__ = _op.lower()
    onnx_op(_op, since=_since, layout=ELEMENTWISE)(_h)


@onnx_op("Not", since=1, layout=ELEMENTWISE)
def not_(ctx: Any) -> Any:
    return _tf().logical_not(ctx.inputs[0])


@onnx_op("BitwiseNot", since=18, layout=ELEMENTWISE)
def bitwise_not(ctx: Any) -> Any:
    return _tf().bitwise.invert(ctx.inputs[0])


@onnx_op("Where", since=9, layout=ELEMENTWISE)
def where(ctx: Any) -> Any:
    cond, x, y = ctx.inputs
    return _tf().where(cond, x, y)


@onnx_op("BitShift", since=11, layout=ELEMENTWISE)
def bit_shift(ctx: Any) -> Any:
    """Opset 28 added signed types: right shifts sign-extend; shifts outside [0, bits) give 0 (or -1 for a
    right shift of a negative value). The same rule is a valid answer for opset 11's undefined cases."""
    tf = _tf()
    x, y = ctx.inputs
    bits = x.dtype.size * 8
    valid = (y >= 0) & (y < bits) if not y.dtype.is_unsigned else y < bits
    safe = tf.where(valid, y, tf.zeros_like(y))
    if ctx.attr("direction") == "LEFT":
        shifted = tf.bitwise.left_shift(x, safe)
        fill = tf.zeros_like(shifted)
    elif ctx.attr("direction") == "RIGHT":
        shifted = tf.bitwise.right_shift(x, safe)
        fill = tf.zeros_like(shifted)
        if not x.dtype.is_unsigned:
            fill = tf.where(x < 0, tf.constant(-1, x.dtype), tf.constant(0, x.dtype)) + fill
    else:
        raise ctx.unsupported(f"direction {ctx.attr('direction')!r} must be LEFT or RIGHT")
    return tf.where(valid, shifted, fill)
