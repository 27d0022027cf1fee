"""Elementwise arithmetic and unary math (numpy-style broadcasting maps onto TF's).

Before opset 7 the binary ops broadcast only when ``broadcast=1``, aligning B to A at ``axis``;
``legacy_broadcast`` turns that into numpy broadcasting. Where TF lacks a kernel for a dtype ONNX allows
(e.g. TruncateMod on int8), the op runs in a wider dtype and the result is cast back.
"""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.ops._common import as_bias_add, on_product_rows
from bridge_converters.onnx_tf.passes.layout import ELEMENTWISE
from bridge_converters.onnx_tf.registry import onnx_op

__all__ = ["legacy_broadcast", "half_via_float32"]


def _tf() -> Any:
    import tensorflow as tf

    return tf


def half_via_float32(fn: Any) -> Any:
    """``fn(x, ...)`` evaluated in float32 for float16/bfloat16 ``x`` and rounded once at the end.

    TF's half-precision kernels for transcendental functions are off by up to 2 ulp; one rounding of the
    float32 result stays within the 1e-3 relative tolerance ONNX test cases use for float16.
    """

    def wrapped(x: Any, *args: Any, **kwargs: Any) -> Any:
        tf = _tf()
        if x.dtype in (tf.float16, tf.bfloat16):
            return tf.cast(fn(tf.cast(x, tf.float32), *args, **kwargs), x.dtype)
        return fn(x, *args, **kwargs)

    return wrapped


def legacy_broadcast(ctx: Any, a: Any, b: Any) -> Any:
    """B reshaped so numpy broadcasting matches the pre-opset-7 ``broadcast``/``axis`` attributes."""
    if not ctx.attr("broadcast", 0) or ctx.attr("axis") is None:
        return b  # no axis: B aligns with A's trailing dims, which numpy broadcasting already does
    rank_a, rank_b = a.shape.rank, b.shape.rank
    axis = ctx.attr("axis") + (rank_a if ctx.attr("axis") < 0 else 0)
    trailing = rank_a - axis - rank_b
    if trailing <= 0:
        return b
    tf = _tf()
    return tf.reshape(b, tf.concat([tf.shape(b), tf.ones([trailing], tf.int32)], 0))


def _binary(ctx: Any) -> tuple[Any, Any]:
    a, b = ctx.inputs[0], ctx.inputs[1]
    if ctx.opset < 7:
        b = legacy_broadcast(ctx, a, b)
    return a, b


def _divide(a: Any, b: Any) -> Any:
    tf = _tf()
    if a.dtype.is_integer:
        # ONNX integer division truncates toward zero, like C. TFLite divides int32 only (DIV): int64
        # operands that int32 holds, with no INT32_MIN / -1 overflow, divide there.
        if a.dtype == tf.int64 and _narrow(a) and _narrow(b) and (_narrow(a) < 32 or _no_minus_one(b)):
            return tf.cast(tf.truncatediv(tf.cast(a, tf.int32), tf.cast(b, tf.int32)), tf.int64)
        return tf.truncatediv(a, b)
    return tf.divide(a, b)


_INT32 = (-(2**31), 2**31 - 1)


def _narrow(t: Any) -> int:
    """The bits of the narrower integer type an int64 tensor's values provably fit (a cast from one, or
    constants inside int32; at most 32), else 0."""
    tf = _tf()
    value = tf.get_static_value(t) if not isinstance(t, tf.Variable) else None
    if value is not None:
        return 32 if value.size and _INT32[0] <= value.min() and value.max() <= _INT32[1] else 0
    op = getattr(t, "op", None)
    if op is None or op.type != "Cast":
        return 0
    source = op.inputs[0].dtype
    return 8 * source.size if source in (tf.bool, tf.int32) or (source.is_integer and source.size < 4) else 0


def _no_minus_one(b: Any) -> bool:
    value = _tf().get_static_value(b)
    return value is not None and not (value == -1).any()


_SMALL_SILU = 65536  # elements


def _sigmoid_of(s: Any, x: Any) -> bool:
    """Whether ``s`` is the graph tensor ``Sigmoid(x)`` (weights are variables, constants may be eager: no op)."""
    import tensorflow as tf

    if not all(tf.is_tensor(t) and not isinstance(t, tf.Variable) and hasattr(t, "graph") for t in (s, x)):
        return False
    return s.op.type == "Sigmoid" and s.op.inputs[0].name == x.name


def _multiply(a: Any, b: Any) -> Any:
    """a * b. In SiLU, ``x * Sigmoid(x)`` of a small static float32 ``x``, the Sigmoid reads x through an
    EnsureShape (a no-op that TFLite's converter drops: LOGISTIC + MUL as before): with oneDNN on, TF's
    optimiser otherwise fuses the pair into a oneDNN Swish kernel that costs ~115 us more a call on up to
    ``_SMALL_SILU`` elements (on more, it is the faster form)."""
    tf = _tf()
    if not tf.executing_eagerly() and a.dtype == tf.float32:
        for x, s in ((a, b), (b, a)):
            if x.shape.is_fully_defined() and x.shape.num_elements() <= _SMALL_SILU and _sigmoid_of(s, x):
                return x * tf.sigmoid(tf.ensure_shape(x, x.shape))
    return tf.multiply(a, b)


_ARITH = {"Add": lambda a, b: _tf().add(a, b), "Sub": lambda a, b: _tf().subtract(a, b), "Mul": _multiply,
          "Div": _divide}


def _arith_handler(fn: Any) -> Any:
    def handler(ctx: Any) -> Any:
        a, b = _binary(ctx)
        if fn is _ARITH["Add"]:
            bias = as_bias_add(a, b)
            if bias is not None:
                return bias
        return fn(a, b)

    return handler


for _op, _fn in _ARITH.items():
    # since=1 covers the legacy broadcast attributes (opsets 1 and 6); later versions only add dtypes.
    _h = _arith_handler(_fn)
    _h.__name__ = _op.lower()
    onnx_op(_op, since=1, layout=ELEMENTWISE)(_h)


@onnx_op("Mod", since=10, layout=ELEMENTWISE)
def mod(ctx: Any) -> Any:
    tf = _tf()
    a, b = ctx.inputs
    dtype = a.dtype
    if dtype.is_unsigned:
        return tf.math.floormod(a, b)  # both signs agree, so fmod and Python mod coincide
    if not ctx.attr("fmod", 0):
        if dtype.is_floating:
            return _float_mod(a, b)
        return tf.math.floormod(a, b)  # sign of the divisor, like Python's %
    if not dtype.is_floating and dtype.size < 4:
        return tf.cast(tf.truncatemod(tf.cast(a, tf.int32), tf.cast(b, tf.int32)), dtype)
    if dtype in (tf.float16, tf.bfloat16):
        return tf.cast(tf.truncatemod(tf.cast(a, tf.float32), tf.cast(b, tf.float32)), dtype)
    return tf.truncatemod(a, b)


def _float_mod(a: Any, b: Any) -> Any:
    """Float mod with the sign of the divisor, following the special cases of Mod-28."""
    tf = _tf()
    wide = a.dtype if a.dtype == tf.float64 else tf.float32
    x, y = tf.cast(a, wide), tf.cast(b, wide)
    r = tf.truncatemod(x, y)
    adjust = tf.not_equal(r, 0) & tf.not_equal(r < 0, y < 0)
    r = tf.where(adjust, r + y, r)
    # A zero result takes the divisor's sign; x finite and y infinite with opposite signs gives y.
    r = tf.where(tf.equal(r, 0), tf.abs(r) * tf.sign(y), r)
    inf_y = tf.math.is_inf(y) & tf.math.is_finite(x) & tf.not_equal(x, 0)
    r = tf.where(inf_y & tf.not_equal(x < 0, y < 0), y, tf.where(inf_y, x, r))
    return tf.cast(r, a.dtype)


@onnx_op("Pow", since=1, layout=ELEMENTWISE)
def pow_(ctx: Any) -> Any:
    tf = _tf()
    a, b = _binary(ctx)
    if a.dtype == b.dtype and a.dtype not in (tf.float16, tf.bfloat16):
        return tf.pow(a, b)
    # Mixed types (opset 12+) and half floats: compute in a wide type, the result has the base's dtype.
    wide = tf.int64 if a.dtype.is_integer and b.dtype.is_integer else tf.float64
    return tf.cast(tf.pow(tf.cast(a, wide), tf.cast(b, wide)), a.dtype)


def _abs(x: Any) -> Any:
    return x if x.dtype.is_unsigned else _tf().abs(x)


def _sign(x: Any) -> Any:
    tf = _tf()
    return tf.cast(x > 0, x.dtype) if x.dtype.is_unsigned else tf.sign(x)


def _reciprocal(x: Any) -> Any:
    return _tf().math.reciprocal(x)


def _erf(x: Any) -> Any:
    tf = _tf()
    if x.dtype.is_integer:  # ONNX allows integer Erf; TF has no kernel: compute wide, truncate back
        return tf.cast(tf.math.erf(tf.cast(x, tf.float64)), x.dtype)
    return tf.math.erf(x)


# op_type -> (since, TF function name or callable); later versions of these ops only add dtypes.
_UNARY = {
    "Neg": (1, "negative"), "Abs": (1, _abs), "Reciprocal": (1, _reciprocal), "Sqrt": (1, "sqrt"),
    "Exp": (1, "exp"), "Log": (1, "math.log"), "Ceil": (1, "math.ceil"), "Floor": (1, "floor"),
    "Round": (11, "round"),  # tf.round rounds half to even, as ONNX does
    "Sign": (9, _sign), "Erf": (9, _erf),
    "Sin": (7, "sin"), "Cos": (7, "cos"), "Tan": (7, "tan"), "Asin": (7, "asin"), "Acos": (7, "acos"),
    "Atan": (7, "atan"), "Sinh": (9, "sinh"), "Cosh": (9, "cosh"), "Asinh": (9, "asinh"),
    "Acosh": (9, "acosh"), "Atanh": (9, "atanh"),
}
_EXACT = {"Neg", "Abs", "Ceil", "Floor", "Round", "Sign"}  # exactly representable: no float32 detour


def _unary_handler(fn: Any, exact: bool) -> Any:
    def handler(ctx: Any) -> Any:
        f = fn
        if isinstance(f, str):
            f = _tf()
            for part in fn.split("."):
                f = getattr(f, part)
        return f(ctx.inputs[0]) if exact else half_via_float32(f)(ctx.inputs[0])

    return handler


for _op, (_since, _fn) in _UNARY.items():
    _h = _unary_handler(_fn, _op in _EXACT)
    _h.__name__ = _op.lower()
    onnx_op(_op, since=_since, layout=ELEMENTWISE)(_h)


def _fold(ctx: Any, fn: Any) -> Any:
    args = [t for t in ctx.inputs if t is not None]
    out = args[0]
    for t in args[1:]:
        out = fn(out, t)
    return out


# Max/Min/Sum/Mean: opset 8 added broadcasting; converting older same-shape models the same way is exact.
@onnx_op("Max", since=1, layout=ELEMENTWISE)
def max_(ctx: Any) -> Any:
    return _fold(ctx, _tf().maximum)


@onnx_op("Min", since=1, layout=ELEMENTWISE)
def min_(ctx: Any) -> Any:
    return _fold(ctx, _tf().minimum)


@onnx_op("Sum", since=1, layout=ELEMENTWISE)
def sum_(ctx: Any) -> Any:
    return _fold(ctx, _tf().add)


@onnx_op("Mean", since=1, layout=ELEMENTWISE)
def mean(ctx: Any) -> Any:
    tf = _tf()
    total = _fold(ctx, tf.add)
    n = sum(1 for t in ctx.inputs if t is not None)
    return total / tf.constant(n, total.dtype)


def _clip(x: Any, lo: Any, hi: Any) -> Any:
    tf = _tf()
    if x.dtype.is_floating and _static_scalar(lo) == 0.0 and _static_scalar(hi) in (6.0, None):
        # TF's own activations, which TFLite fuses into the preceding convolution (RELU6, RELU)
        return on_product_rows(x, tf.nn.relu6 if _static_scalar(hi) == 6.0 else tf.nn.relu)
    # maximum then minimum: with min > max every value becomes max, as ONNX specifies; NaN propagates.
    if lo is not None:
        x = tf.maximum(x, tf.reshape(tf.cast(lo, x.dtype), []))
    if hi is not None:
        x = tf.minimum(x, tf.reshape(tf.cast(hi, x.dtype), []))
    return x


def _static_scalar(value: Any) -> float | None:
    """A bound's value when it is known at conversion time (a number, or a constant tensor), else None."""
    import numpy as np

    if value is None:
        return None
    if not isinstance(value, (int, float, np.number)):
        value = _tf().get_static_value(value)
        if value is None or np.size(value) != 1:
            return float("nan")  # unknown: matches no special case
    return float(np.asarray(value).reshape(-1)[0])


@onnx_op("Clip", since=1, layout=ELEMENTWISE)
def clip_v1(ctx: Any) -> Any:
    # The defaults (-FLT_MAX, FLT_MAX) clip nothing, so absent attributes are skipped.
    return _clip(ctx.inputs[0], ctx.attr("min"), ctx.attr("max"))


@onnx_op("Clip", since=11, layout=ELEMENTWISE)
def clip_v11(ctx: Any) -> Any:
    return _clip(ctx.inputs[0], ctx.input(1), ctx.input(2))


@onnx_op("IsNaN", since=9, layout=ELEMENTWISE)
def is_nan(ctx: Any) -> Any:
    return _tf().math.is_nan(ctx.inputs[0])


@onnx_op("IsInf", since=10, layout=ELEMENTWISE)
def is_inf(ctx: Any) -> Any:
    tf = _tf()
    x = ctx.inputs[0]
    pos, neg = ctx.attr("detect_positive", 1), ctx.attr("detect_negative", 1)
    if pos and neg:
        return tf.math.is_inf(x)
    inf = tf.constant(float("inf"), x.dtype)
    if pos:
        return tf.equal(x, inf)
    if neg:
        return tf.equal(x, -inf)
    return tf.zeros_like(x, dtype=tf.bool)


@onnx_op("Det", since=11)
def det(ctx: Any) -> Any:
    tf = _tf()
    x = ctx.inputs[0]
    if x.dtype in (tf.float16, tf.bfloat16):
        return tf.cast(tf.linalg.det(tf.cast(x, tf.float32)), x.dtype)
    return tf.linalg.det(x)
