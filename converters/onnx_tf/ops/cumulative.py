"""Scans and order statistics: CumSum, CumProd, TopK, Unique."""

from __future__ import annotations

import math
from typing import Any

from bridge_converters.onnx_tf.ops._common import norm_axis
from bridge_converters.onnx_tf.passes.layout_axes import CUMULATIVE, TOPK
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


def _scan(ctx: Any, product: bool) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    axis = ctx.const(1)
    axis = int(axis.reshape(-1)[0]) if axis is not None else tf.reshape(tf.cast(ctx.inputs[1], tf.int64), [])
    fn = tf.math.cumprod if product else tf.math.cumsum
    return fn(x, axis=axis, exclusive=bool(ctx.attr("exclusive", 0)), reverse=bool(ctx.attr("reverse", 0)))


@onnx_op("CumSum", since=11, layout=CUMULATIVE)
def cum_sum(ctx: Any) -> Any:
    return _scan(ctx, product=False)


@onnx_op("CumProd", since=26, layout=CUMULATIVE)
def cum_prod(ctx: Any) -> Any:
    return _scan(ctx, product=True)


# -- TopK -------------------------------------------------------------------------------------------
def _top_k(ctx: Any, k: Any) -> list[Any]:
    import tensorflow as tf

    x = ctx.inputs[0]
    rank = x.shape.rank
    axis = norm_axis(ctx.attr("axis", -1), rank)
    largest = bool(ctx.attr("largest", 1))
    work = x
    perm = None
    if axis != rank - 1:  # top_k works on the last axis
        perm = [d for d in range(rank) if d != axis] + [axis]
        work = tf.transpose(work, perm)
    keys = work
    # Sort keys: a signed type top_k has kernels for, order preserved; values are gathered back from x.
    if keys.dtype in (tf.uint8, tf.uint16, tf.int8, tf.int16):
        keys = tf.cast(keys, tf.int32)
    elif keys.dtype == tf.uint32:
        keys = tf.cast(keys, tf.int64)
    elif keys.dtype == tf.uint64:  # flipping the top bit maps unsigned order onto signed order
        keys = tf.bitcast(tf.bitwise.bitwise_xor(keys, tf.constant(1 << 63, tf.uint64)), tf.int64)
    if not largest:
        # Order-reversing maps keep top_k's "lower index first" tie-break: -x for floats, ~x for integers
        # (which, unlike -x, cannot overflow).
        keys = -keys if keys.dtype.is_floating else tf.bitwise.invert(keys)
        if keys.dtype.is_floating:  # NaN sorts above everything (numpy's order), so it is never "smallest"
            keys = tf.where(tf.math.is_nan(keys), tf.constant(-float("inf"), keys.dtype), keys)
    _, indices = tf.math.top_k(keys, k=k, sorted=True)
    values = tf.gather(work, indices, batch_dims=rank - 1)
    indices = tf.cast(indices, tf.int64)
    if perm is not None:
        inverse = [perm.index(d) for d in range(rank)]
        values, indices = tf.transpose(values, inverse), tf.transpose(indices, inverse)
    return [values, indices]


@onnx_op("TopK", since=1, layout=TOPK)
def top_k_v1(ctx: Any) -> Any:
    return _top_k(ctx, int(ctx.attr("k")))


@onnx_op("TopK", since=10, layout=TOPK)
def top_k(ctx: Any) -> Any:
    import tensorflow as tf

    k = ctx.const(1)
    k = int(k.reshape(-1)[0]) if k is not None else tf.cast(tf.reshape(ctx.inputs[1], []), tf.int32)
    return _top_k(ctx, k)


# -- Unique -----------------------------------------------------------------------------------------
def _lexsort_rows(rows: Any) -> Any:
    """The permutation sorting the rows of a 2-D tensor lexicographically (stable)."""
    import tensorflow as tf

    def by_column(col: Any, perm: Any) -> Any:
        keys = tf.gather(rows[:, col], perm)
        return tf.gather(perm, tf.argsort(keys, stable=True))

    perm = tf.range(tf.shape(rows, out_type=tf.int64)[0])
    width = rows.shape[1]
    if width is not None:
        for col in reversed(range(width)):  # least significant column first; stable sorts keep earlier keys
            perm = by_column(col, perm)
        return perm
    width_t = tf.shape(rows, out_type=tf.int64)[1]
    _, perm = tf.while_loop(lambda i, p: i > 0, lambda i, p: (i - 1, by_column(i - 1, p)), [width_t, perm])
    return perm


@onnx_op("Unique", since=11)
def unique(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    axis = ctx.attr("axis")
    if axis is None:
        rows = tf.reshape(x, [-1])
        values, inverse = tf.unique(rows, out_idx=tf.int64)
    else:
        rank = x.shape.rank
        axis = norm_axis(axis, rank)
        perm_axes = [axis, *[d for d in range(rank) if d != axis]]
        moved = tf.transpose(x, perm_axes)
        rest = moved.shape.as_list()[1:]
        width = None if any(d is None for d in rest) else math.prod(rest)
        shape_t = tf.shape(moved, out_type=tf.int64)
        rows_shape = [-1, width] if width is not None else tf.stack([shape_t[0], tf.reduce_prod(shape_t[1:])])
        rows = tf.reshape(moved, rows_shape)
        values, inverse = tf.raw_ops.UniqueV2(x=rows, axis=tf.constant([0], tf.int64), out_idx=tf.int64)
        if width is not None:
            values = tf.reshape(values, [-1, width])
    # tf.unique keeps first-occurrence order; counts and first indices come from the inverse mapping.
    n = tf.shape(values, out_type=tf.int64)[0]
    total = tf.shape(inverse, out_type=tf.int64)[0]
    counts = tf.math.unsorted_segment_sum(tf.ones([total], tf.int64), inverse, n)
    first = tf.math.unsorted_segment_min(tf.range(total), inverse, n)
    if ctx.attr("sorted", 1):
        if values.dtype == tf.string:
            raise ctx.unsupported("sorted Unique on strings (TensorFlow cannot sort strings)")
        order = tf.argsort(values, stable=True) if axis is None else _lexsort_rows(values)
        order = tf.cast(order, tf.int64)
        values, counts, first = (tf.gather(t, order) for t in (values, counts, first))
        inverse = tf.gather(tf.math.invert_permutation(order), inverse)
    if axis is not None:
        values = tf.reshape(values, tf.concat([[-1], tf.shape(moved, out_type=tf.int64)[1:]], 0))
        values = tf.transpose(values, [perm_axes.index(d) for d in range(x.shape.rank)])
    return [values, first, inverse, counts]
