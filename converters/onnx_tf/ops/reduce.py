"""Reductions: ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare, ArgMax, ArgMin.

Axes come from the ``axes`` attribute up to opset 12 (ReduceSum) or 17 (the others) and from an optional
input afterwards, where ``noop_with_empty_axes`` decides whether empty axes mean "all" or "none".
Empty sets reduce to TF's identities, which match ONNX: 0 (sum), 1 (prod), -inf (max, log-sum), +inf (min),
NaN (mean of floats).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge_converters.onnx_tf.ops._common import norm_axis
from bridge_converters.onnx_tf.passes.layout_axes import ARG, REDUCE
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


def _reducer(kind: str) -> Callable[[Any, Any, bool], Any]:
    """``fn(x, axes, keepdims)`` for one ONNX reduction; ``axes`` is a list or an int64 tensor."""
    import tensorflow as tf

    def as_float(fn: Callable[[Any, Any, bool], Any]) -> Callable[[Any, Any, bool], Any]:
        # Root/log reductions on integer tensors: compute in float64, cast back like onnx's reference.
        def run(x: Any, axes: Any, keep: bool) -> Any:
            if x.dtype.is_floating:
                return fn(x, axes, keep)
            return tf.cast(fn(tf.cast(x, tf.float64), axes, keep), x.dtype)

        return run

    def bool_or(numeric: Callable[..., Any], logical: Callable[..., Any]) -> Callable[[Any, Any, bool], Any]:
        return lambda x, a, k: (logical if x.dtype == tf.bool else numeric)(x, axis=a, keepdims=k)

    table: dict[str, Callable[[Any, Any, bool], Any]] = {
        "ReduceSum": lambda x, a, k: tf.reduce_sum(x, axis=a, keepdims=k),
        "ReduceMean": lambda x, a, k: tf.reduce_mean(x, axis=a, keepdims=k),
        "ReduceMax": bool_or(tf.reduce_max, tf.reduce_any),
        "ReduceMin": bool_or(tf.reduce_min, tf.reduce_all),
        "ReduceProd": lambda x, a, k: tf.reduce_prod(x, axis=a, keepdims=k),
        "ReduceL1": lambda x, a, k: tf.reduce_sum(tf.abs(x), axis=a, keepdims=k),
        "ReduceL2": as_float(lambda x, a, k: tf.sqrt(tf.reduce_sum(tf.square(x), axis=a, keepdims=k))),
        "ReduceSumSquare": lambda x, a, k: tf.reduce_sum(tf.square(x), axis=a, keepdims=k),
        "ReduceLogSum": as_float(lambda x, a, k: tf.math.log(tf.reduce_sum(x, axis=a, keepdims=k))),
        "ReduceLogSumExp": as_float(lambda x, a, k: tf.reduce_logsumexp(x, axis=a, keepdims=k)),
    }
    return table[kind]


def _reduce_static(ctx: Any, x: Any, axes: list[int] | None, noop_empty: bool) -> Any:
    keep = bool(ctx.attr("keepdims", 1))
    rank = x.shape.rank
    if not axes:
        if noop_empty:
            return x
        axes = list(range(rank)) if rank is not None else None
    else:
        axes = [norm_axis(a, rank) for a in axes]
    return _reducer(ctx.op_type)(x, axes, keep)


def _reduce_attr(ctx: Any) -> Any:
    axes = ctx.attr("axes")
    return _reduce_static(ctx, ctx.inputs[0], None if axes is None else [int(a) for a in axes], False)


def _reduce_input(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    noop_empty = bool(ctx.attr("noop_with_empty_axes", 0))
    if not ctx.has_input(1):
        return _reduce_static(ctx, x, None, noop_empty)
    const = ctx.const(1)
    if const is not None:
        return _reduce_static(ctx, x, [int(a) for a in const.reshape(-1)], noop_empty)
    rank = x.shape.rank
    if rank is None:
        raise ctx.unsupported("run-time axes need a static input rank")
    axes = tf.reshape(tf.cast(ctx.inputs[1], tf.int64), [-1])
    keep = bool(ctx.attr("keepdims", 1))
    fn = _reducer(ctx.op_type)
    empty = tf.equal(tf.size(axes), 0)
    if noop_empty:
        return tf.cond(empty, lambda: tf.identity(x), lambda: fn(x, axes, keep))
    axes = tf.cond(empty, lambda: tf.range(rank, dtype=tf.int64), lambda: axes)
    return fn(x, axes, keep)


_REDUCTIONS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
               "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]
for _op in _REDUCTIONS:
    onnx_op(_op, since=1, layout=REDUCE)(_reduce_attr)
    onnx_op(_op, since=13 if _op == "ReduceSum" else 18, layout=REDUCE)(_reduce_input)


# -- ArgMax / ArgMin --------------------------------------------------------------------------------
def _arg(ctx: Any, largest: bool) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    rank = x.shape.rank
    axis = norm_axis(ctx.attr("axis", 0), rank)
    if x.dtype == tf.bool:
        x = tf.cast(x, tf.int8)
    last = bool(ctx.attr("select_last_index", 0))
    if last:
        x = tf.reverse(x, [axis])
    fn = tf.math.argmax if largest else tf.math.argmin
    out = fn(x, axis=axis, output_type=tf.int64)
    if x.dtype.is_floating:
        # numpy (ONNX's reference) picks the first NaN; TF's kernels skip NaNs.
        nan = tf.math.is_nan(x)
        out = tf.where(tf.reduce_any(nan, axis=axis), tf.math.argmax(nan, axis=axis, output_type=tf.int64), out)
    if last:
        out = tf.shape(x, out_type=tf.int64)[axis] - 1 - out
    return tf.expand_dims(out, axis) if ctx.attr("keepdims", 1) else out


@onnx_op("ArgMax", since=1, layout=ARG)
def arg_max(ctx: Any) -> Any:
    return _arg(ctx, largest=True)


@onnx_op("ArgMin", since=1, layout=ARG)
def arg_min(ctx: Any) -> Any:
    return _arg(ctx, largest=False)
