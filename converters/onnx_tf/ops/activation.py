"""Activations: the ReLU family, smooth activations, and Softmax/LogSoftmax/Hardmax across opset 13."""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.ops._common import norm_axis, on_product_rows
from bridge_converters.onnx_tf.ops.elementwise import half_via_float32
from bridge_converters.onnx_tf.passes.layout import ELEMENTWISE, ELEMENTWISE_7
from bridge_converters.onnx_tf.passes.layout_axes import AXIS_13
from bridge_converters.onnx_tf.registry import onnx_op

__all__ = ["softmax"]


def _tf() -> Any:
    import tensorflow as tf

    return tf


def _c(value: float, like: Any) -> Any:
    """A float attribute as a scalar of ``like``'s dtype."""
    return _tf().constant(value, like.dtype)


@onnx_op("Relu", since=1, layout=ELEMENTWISE)
def relu(ctx: Any) -> Any:
    return on_product_rows(ctx.inputs[0], _tf().nn.relu)


@onnx_op("Sigmoid", since=1, layout=ELEMENTWISE)
def sigmoid(ctx: Any) -> Any:
    return on_product_rows(ctx.inputs[0], half_via_float32(_tf().math.sigmoid))


@onnx_op("Tanh", since=1, layout=ELEMENTWISE)
def tanh(ctx: Any) -> Any:
    return on_product_rows(ctx.inputs[0], half_via_float32(_tf().math.tanh))


@onnx_op("LeakyRelu", since=1, layout=ELEMENTWISE)
def leaky_relu(ctx: Any) -> Any:
    x = ctx.inputs[0]
    return _tf().where(x < 0, x * _c(ctx.attr("alpha", 0.01), x), x)


@onnx_op("PRelu", since=1, layout=ELEMENTWISE_7)
def prelu(ctx: Any) -> Any:
    tf = _tf()
    x, slope = ctx.inputs
    if ctx.opset < 7 and slope.shape.rank == 1 and x.shape.rank is not None and x.shape.rank > 2:
        # Before opset 7 a 1-D slope holds one value per channel (axis 1), not per last-axis element.
        slope = tf.reshape(slope, [-1] + [1] * (x.shape.rank - 2))
    return tf.where(x < 0, x * slope, x)


def _elu(x: Any, alpha: float) -> Any:
    tf = _tf()
    return tf.where(x > 0, x, _c(alpha, x) * tf.math.expm1(x))


@onnx_op("Elu", since=1, layout=ELEMENTWISE)
def elu(ctx: Any) -> Any:
    return half_via_float32(_elu)(ctx.inputs[0], ctx.attr("alpha", 1.0))


@onnx_op("Selu", since=1, layout=ELEMENTWISE)
def selu(ctx: Any) -> Any:
    alpha = ctx.attr("alpha", 1.67326319217681884765625)
    gamma = ctx.attr("gamma", 1.05070102214813232421875)
    return half_via_float32(lambda x: _c(gamma, x) * _elu(x, alpha))(ctx.inputs[0])


@onnx_op("Celu", since=12, layout=ELEMENTWISE)
def celu(ctx: Any) -> Any:
    tf = _tf()

    def f(x: Any) -> Any:
        alpha = _c(ctx.attr("alpha", 1.0), x)
        return tf.where(x > 0, x, alpha * tf.math.expm1(x / alpha))

    return half_via_float32(f)(ctx.inputs[0])


def _hard_sigmoid(x: Any, alpha: float, beta: float) -> Any:
    tf = _tf()
    if x.dtype == tf.float32 and abs(alpha - 1.0 / 6.0) < 1e-7 and beta == 0.5:
        return tf.nn.relu6(x + 3.0) * (1.0 / 6.0)  # three TFLite builtins (ADD, RELU6, MUL) instead of four
    return tf.clip_by_value(_c(alpha, x) * x + _c(beta, x), _c(0.0, x), _c(1.0, x))


@onnx_op("HardSigmoid", since=1, layout=ELEMENTWISE)
def hard_sigmoid(ctx: Any) -> Any:
    return _hard_sigmoid(ctx.inputs[0], ctx.attr("alpha", 0.2), ctx.attr("beta", 0.5))


@onnx_op("HardSwish", since=14, layout=ELEMENTWISE)
def hard_swish(ctx: Any) -> Any:
    x = ctx.inputs[0]
    # for float32 x * relu6(x + 3) / 6: the form TFLite's converter turns into its HARD_SWISH builtin
    return x * _hard_sigmoid(x, 1.0 / 6.0, 0.5)


@onnx_op("Softplus", since=1, layout=ELEMENTWISE)
def softplus(ctx: Any) -> Any:
    return half_via_float32(_tf().math.softplus)(ctx.inputs[0])


@onnx_op("Softsign", since=1, layout=ELEMENTWISE)
def softsign(ctx: Any) -> Any:
    tf = _tf()
    return half_via_float32(lambda x: x / (tf.abs(x) + _c(1.0, x)))(ctx.inputs[0])


@onnx_op("Gelu", since=20, layout=ELEMENTWISE)
def gelu(ctx: Any) -> Any:
    approximate = ctx.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise ctx.unsupported(f"approximate={approximate!r} (expected 'none' or 'tanh')")
    tf_gelu = half_via_float32(_tf().nn.gelu)
    return on_product_rows(ctx.inputs[0], lambda x: tf_gelu(x, approximate=approximate == "tanh"))


@onnx_op("Mish", since=18, layout=ELEMENTWISE)
def mish(ctx: Any) -> Any:
    tf = _tf()
    return half_via_float32(lambda x: x * tf.math.tanh(tf.math.softplus(x)))(ctx.inputs[0])


@onnx_op("Swish", since=24, layout=ELEMENTWISE)
def swish(ctx: Any) -> Any:
    tf = _tf()
    alpha = ctx.attr("alpha", 1.0)
    return half_via_float32(lambda x: x * tf.math.sigmoid(_c(alpha, x) * x))(ctx.inputs[0])


@onnx_op("SwiGLU", since=28)
def swiglu(ctx: Any) -> Any:
    """Y = Swish_alpha(A) * B, with A and B of one shape (no broadcasting)."""
    tf = _tf()
    gate, value = ctx.inputs[0], ctx.inputs[1]
    alpha = ctx.attr("alpha", 1.0)
    # both factors in float32 for half types, one rounding at the end (see half_via_float32)
    wide = tf.float32 if gate.dtype in (tf.float16, tf.bfloat16) else gate.dtype
    a, b = tf.cast(gate, wide), tf.cast(value, wide)
    return tf.cast(a * tf.math.sigmoid(tf.cast(alpha, wide) * a) * b, gate.dtype)


@onnx_op("ThresholdedRelu", since=10, layout=ELEMENTWISE)
def thresholded_relu(ctx: Any) -> Any:
    tf = _tf()
    x = ctx.inputs[0]
    return tf.where(x > _c(ctx.attr("alpha", 1.0), x), x, tf.zeros_like(x))


@onnx_op("Shrink", since=9, layout=ELEMENTWISE)
def shrink(ctx: Any) -> Any:
    tf = _tf()
    x = ctx.inputs[0]
    # lambd and bias are floats even for integer inputs: compute in float64 and cast back like ONNX.
    wide = x if x.dtype.is_floating else tf.cast(x, tf.float64)
    lambd, bias = _c(ctx.attr("lambd", 0.5), wide), _c(ctx.attr("bias", 0.0), wide)
    y = tf.where(wide < -lambd, wide + bias, tf.where(wide > lambd, wide - bias, tf.zeros_like(wide)))
    return tf.cast(y, x.dtype)


# -- Softmax family -------------------------------------------------------------------------------------
def _hardmax(x: Any, axis: int) -> Any:
    """One-hot of the first maximum along ``axis`` (tf.argmax does not promise the first on ties)."""
    tf = _tf()
    is_max = tf.equal(x, tf.reduce_max(x, axis=axis, keepdims=True))
    first = is_max & tf.equal(tf.cumsum(tf.cast(is_max, tf.int32), axis=axis), 1)
    return tf.cast(first, x.dtype)


def _log_softmax(x: Any, axis: int) -> Any:
    return half_via_float32(_tf().nn.log_softmax)(x, axis=axis)


_SMALL_SOFTMAX = 16384  # elements: up to here the written-out form is the faster one with oneDNN on


def _written_out_softmax(x: Any, axis: int) -> Any:
    tf = _tf()
    e = tf.exp(x - tf.reduce_max(x, axis=axis, keepdims=True))
    return e / tf.reduce_sum(e, axis=axis, keepdims=True)


def softmax(x: Any, axis: int = -1) -> Any:
    """Softmax along ``axis``. Along the last axis of a small static tensor (at most ``_SMALL_SOFTMAX``
    elements) it is written out as ``exp(x - max) / sum``: with oneDNN on, TF's Softmax kernel costs ~100 us
    more a call than these Eigen ops there (on bigger tensors it is the faster one), and TFLite's converter
    still makes the written-out form one SOFTMAX builtin."""
    import math

    shape = x.shape
    small = (shape.rank is not None and shape.is_fully_defined() and norm_axis(axis, shape.rank) == shape.rank - 1
             and math.prod(shape.as_list()) <= _SMALL_SOFTMAX)
    return half_via_float32(_written_out_softmax if small else _tf().nn.softmax)(x, axis=axis)


def _legacy(ctx: Any, fn: Any) -> Any:
    """Opset < 13: coerce to 2D at ``axis`` (default 1), apply along the last axis, restore the shape."""
    tf = _tf()
    x = ctx.inputs[0]
    rank = x.shape.rank
    if rank is None:
        raise ctx.unsupported("opset < 13 needs the input rank to coerce it to 2D")
    axis = norm_axis(ctx.attr("axis", 1), rank)
    if axis == rank - 1:
        return fn(x, -1)  # the 2-D view's last axis is x's last axis
    shape = tf.shape(x)
    flat = tf.reshape(x, tf.stack([tf.reduce_prod(shape[:axis]), tf.reduce_prod(shape[axis:])]))
    return tf.reshape(fn(flat, -1), shape)


def _along_axis(ctx: Any, fn: Any) -> Any:
    return fn(ctx.inputs[0], ctx.attr("axis", -1))


def _handlers(fn: Any) -> tuple[Any, Any]:
    def legacy(ctx: Any) -> Any:
        return _legacy(ctx, fn)

    def along_axis(ctx: Any) -> Any:
        return _along_axis(ctx, fn)

    legacy.__name__, along_axis.__name__ = f"{fn.__name__[1:]}_v1", f"{fn.__name__[1:]}_v13"
    return legacy, along_axis


for _op, _fn in (("Softmax", softmax), ("LogSoftmax", _log_softmax), ("Hardmax", _hardmax)):
    _v1, _v13 = _handlers(_fn)
    onnx_op(_op, since=1)(_v1)
    onnx_op(_op, since=13, layout=AXIS_13)(_v13)
