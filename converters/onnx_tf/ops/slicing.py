"""Slicing, padding and masking: Slice, Split, Pad, CenterCropPad, Trilu, ReverseSequence, Compress, NonZero."""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.ops._common import norm_axis
from bridge_converters.onnx_tf.ops.shape import dims
from bridge_converters.onnx_tf.passes.layout_axes import AXIS, PAD, SLICE
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []

_INT64_MAX = (1 << 63) - 1


# -- Slice ------------------------------------------------------------------------------------------
def _slice_static(x: Any, starts: list[int], ends: list[int], axes: list[int], steps: list[int]) -> Any:
    # ONNX's clamping of out-of-range and negative starts/ends is Python's slice semantics.
    rank = x.shape.rank
    index = [slice(None)] * rank
    for s, e, a, st in zip(starts, ends, axes, steps):
        axis = norm_axis(a, rank)
        dim = x.shape[axis]
        index[axis] = slice(_bounded(s, dim), _bounded(e, dim), st)
    return x[tuple(index)]


def _bounded(value: int, dim: int | None) -> int:
    """The same slice bound within [-dim-1, dim] (or int32 when dim is unknown): exporters write INT64_MAX
    for "to the end", which the TFLite converter narrows to int32 as -1."""
    if dim is not None:
        return max(-dim - 1, min(value, dim))
    return max(-(1 << 31), min(value, (1 << 31) - 1))


def _slice(ctx: Any, x: Any, starts: Any, ends: Any, axes: Any, steps: Any) -> Any:
    import tensorflow as tf

    rank = x.shape.rank
    if rank is None:
        raise ctx.unsupported("Slice needs a static input rank")
    values = [starts, ends, axes, steps]
    if all(v is None or not tf.is_tensor(v) for v in values):
        n = len(starts)
        axes = list(range(n)) if axes is None else axes
        steps = [1] * n if steps is None else steps
        return _slice_static(x, [int(v) for v in starts], [int(v) for v in ends], [int(v) for v in axes],
                             [int(v) for v in steps])
    # Run-time values: full-rank begin/end/strides vectors; strided_slice clamps like Python (and ONNX).
    starts = tf.reshape(tf.cast(starts, tf.int64), [-1])
    ends = tf.reshape(tf.cast(ends, tf.int64), [-1])
    n = tf.size(starts)
    axes = tf.range(n, dtype=tf.int64) if axes is None else tf.reshape(tf.cast(axes, tf.int64), [-1])
    axes = tf.where(axes < 0, axes + rank, axes)[:, None]
    steps = tf.ones_like(starts) if steps is None else tf.reshape(tf.cast(steps, tf.int64), [-1])
    begin = tf.tensor_scatter_nd_update(tf.zeros([rank], tf.int64), axes, starts)
    end = tf.tensor_scatter_nd_update(tf.fill([rank], tf.constant(_INT64_MAX, tf.int64)), axes, ends)
    strides = tf.tensor_scatter_nd_update(tf.ones([rank], tf.int64), axes, steps)
    return tf.strided_slice(x, begin, end, strides)


@onnx_op("Slice", since=1, layout=SLICE)
def slice_v1(ctx: Any) -> Any:
    return _slice(ctx, ctx.inputs[0], ctx.attr("starts"), ctx.attr("ends"), ctx.attr("axes"), None)


@onnx_op("Slice", since=10, layout=SLICE)
def slice_(ctx: Any) -> Any:
    args = []
    for i in range(1, 5):
        value = ctx.const(i)
        args.append(value.reshape(-1).tolist() if value is not None else ctx.input(i))
    return _slice(ctx, ctx.inputs[0], *args)


# -- Split ------------------------------------------------------------------------------------------
def _split(ctx: Any, x: Any, sizes: Any) -> list[Any]:
    import tensorflow as tf

    rank = x.shape.rank
    axis = ctx.attr("axis", 0)
    if rank is None and axis < 0:
        raise ctx.unsupported("Split along a negative axis needs a static input rank")
    axis = norm_axis(axis, rank) if rank is not None else axis
    n = ctx.num_outputs
    if sizes is None:
        n = int(ctx.attr("num_outputs", n))
        # Unknown rank (e.g. inside an If branch): only the split axis's length is needed.
        dim = dims(x)[axis] if rank is not None else tf.shape(x, out_type=tf.int64)[axis]
        # Equal chunks of ceil(dim / n); the last one takes what is left (opset 18 num_outputs).
        chunk = -(-dim // n) if isinstance(dim, int) else (dim + n - 1) // n
        sizes = [chunk] * (n - 1) + [dim - chunk * (n - 1)]
        if not all(isinstance(s, int) for s in sizes):
            sizes = tf.stack(sizes)
    elif tf.is_tensor(sizes):
        sizes = tf.reshape(tf.cast(sizes, tf.int64), [n])
    return tf.split(x, sizes, num=n, axis=axis)


def _split_sizes(ctx: Any, i: int | None) -> Any:
    if i is not None and ctx.has_input(i):
        value = ctx.const(i)
        return [int(v) for v in value.reshape(-1)] if value is not None else ctx.inputs[i]
    split = ctx.attr("split")
    return None if split is None else [int(v) for v in split]


@onnx_op("Split", since=1, layout=AXIS)
def split_v1(ctx: Any) -> Any:
    # Split-1 took the sizes either from a second input or from the ``split`` attribute.
    return _split(ctx, ctx.inputs[0], _split_sizes(ctx, 1))


@onnx_op("Split", since=2, layout=AXIS)
def split_v2(ctx: Any) -> Any:
    return _split(ctx, ctx.inputs[0], _split_sizes(ctx, None))


@onnx_op("Split", since=13, layout=AXIS)
def split(ctx: Any) -> Any:
    return _split(ctx, ctx.inputs[0], _split_sizes(ctx, 1))


# -- Pad --------------------------------------------------------------------------------------------
def _pad_indices(mode: str, n: Any, begin: Any, end: Any) -> tuple[Any, Any]:
    """Source positions along one axis of length ``n`` padded by (begin, end), and which of them lie inside
    the input (used by constant mode). Negative pads crop first, as ONNX Runtime does; the rest pads the
    cropped axis."""
    import tensorflow as tf

    crop_begin, crop_end = tf.maximum(-begin, 0), tf.maximum(-end, 0)
    m = n - crop_begin - crop_end
    pos = tf.range(-tf.maximum(begin, 0), m + tf.maximum(end, 0), dtype=tf.int64)
    inside = (pos >= 0) & (pos < m)
    if mode == "edge" or mode == "constant":
        src = tf.clip_by_value(pos, 0, tf.maximum(m - 1, 0))
    elif mode == "wrap":
        src = tf.math.floormod(pos, tf.maximum(m, 1))
    else:  # reflect about the first and last element, period 2 * (m - 1)
        period = tf.maximum(2 * (m - 1), 1)
        src = tf.math.floormod(pos, period)
        src = tf.where(src >= m, period - src, src)
    return src + crop_begin, inside


def _pad(ctx: Any, x: Any, pads: Any, value: Any, mode: str, axes: Any) -> Any:
    import numpy as np
    import tensorflow as tf

    rank = x.shape.rank
    if rank is None:
        raise ctx.unsupported("Pad needs a static input rank")
    static = not tf.is_tensor(pads) and not tf.is_tensor(axes)
    if static:
        pads = np.asarray(pads, np.int64).reshape(-1)
        k = len(pads) // 2
        axes = list(range(k)) if axes is None else [norm_axis(int(a), rank) for a in axes]
        full = np.zeros([rank, 2], np.int64)
        for j, a in enumerate(axes):
            full[a] = [pads[j], pads[j + k]]
        if mode == "constant" and (full >= 0).all():
            return tf.pad(x, full, constant_values=tf.cast(value if value is not None else 0, x.dtype))
        if mode == "reflect" and all(0 <= p < (x.shape[i] or 0) for i, pair in enumerate(full) for p in pair):
            return tf.pad(x, full, mode="REFLECT")
        todo = [a for a in range(rank) if full[a].any()]
        begins, ends = tf.constant(full[:, 0]), tf.constant(full[:, 1])
    else:
        # Run-time pads or axes: scatter the (begin, end) pairs into full-rank vectors.
        pads = tf.reshape(tf.cast(pads, tf.int64), [-1])
        k = tf.size(pads, out_type=tf.int64) // 2
        axes = tf.range(k) if axes is None else tf.reshape(tf.cast(axes, tf.int64), [-1])
        axes = tf.where(axes < 0, axes + rank, axes)[:, None]
        begins = tf.tensor_scatter_nd_update(tf.zeros([rank], tf.int64), axes, pads[:k])
        ends = tf.tensor_scatter_nd_update(tf.zeros([rank], tf.int64), axes, pads[k:])
        todo = list(range(rank))
    # General case (edge/wrap, negative pads, run-time pads): gather each axis from computed positions.
    in_dims = dims(x)
    mask = None
    for a in todo:
        src, inside = _pad_indices(mode, tf.cast(in_dims[a], tf.int64), begins[a], ends[a])
        x = tf.gather(x, src, axis=a)
        if mode == "constant":
            shape = [1] * rank
            shape[a] = -1
            inside = tf.reshape(inside, shape)
            mask = inside if mask is None else mask & inside
    if mask is not None:
        fill = tf.cast(value if value is not None else 0, x.dtype)
        x = tf.where(mask, x, fill)
    return x


@onnx_op("Pad", since=1, layout=PAD)
def pad_v1(ctx: Any) -> Any:
    pads = ctx.attr("pads", ctx.attr("paddings"))
    return _pad(ctx, ctx.inputs[0], pads, ctx.attr("value", 0.0), ctx.attr("mode", "constant"), None)


@onnx_op("Pad", since=11, layout=PAD)
def pad(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    pads = ctx.const(1)
    pads = pads if pads is not None else ctx.inputs[1]
    value = None
    if ctx.has_input(2):
        const = ctx.const(2)
        if const is not None:
            value = const.reshape(-1)[0] if const.size else None
        else:
            v = tf.reshape(ctx.inputs[2], [-1])
            value = tf.cond(tf.size(v) > 0, lambda: v[0], lambda: tf.zeros([], v.dtype))
    axes = None
    if ctx.has_input(3):  # opset 18
        axes = ctx.const(3)
        axes = axes.reshape(-1).tolist() if axes is not None else ctx.inputs[3]
    return _pad(ctx, x, pads, value, ctx.attr("mode", "constant"), axes)


@onnx_op("CenterCropPad", since=18)
def center_crop_pad(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    rank = x.shape.rank
    axes = [norm_axis(a, rank) for a in ctx.attr("axes", list(range(rank)))]
    target = tf.reshape(tf.cast(ctx.inputs[1], tf.int64), [-1])
    in_dims = dims(x)
    for j, a in enumerate(axes):
        n = tf.cast(in_dims[a], tf.int64)
        want = target[j]
        # Crop keeps the centre (the extra element goes to the end); padding splits the same way.
        crop_begin = tf.maximum(n - want, 0) // 2
        x = tf.gather(x, tf.range(crop_begin, crop_begin + tf.minimum(n, want)), axis=a)
        extra = tf.maximum(want - n, 0)
        paddings = tf.tensor_scatter_nd_update(tf.zeros([rank, 2], tf.int64), [[a, 0], [a, 1]],
                                               tf.stack([extra // 2, extra - extra // 2]))
        x = tf.pad(x, paddings)
    return x


# -- Trilu, ReverseSequence -------------------------------------------------------------------------
@onnx_op("Trilu", since=14)
def trilu(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    k = tf.reshape(tf.cast(ctx.inputs[1], tf.int64), []) if ctx.has_input(1) else tf.constant(0, tf.int64)
    rows, cols = (tf.cast(d, tf.int64) for d in dims(x)[-2:])
    diff = tf.range(cols, dtype=tf.int64)[None, :] - tf.range(rows, dtype=tf.int64)[:, None]
    keep = diff >= k if ctx.attr("upper", 1) else diff <= k
    return tf.where(keep, x, tf.zeros_like(x))


@onnx_op("ReverseSequence", since=10)
def reverse_sequence(ctx: Any) -> Any:
    import tensorflow as tf

    return tf.reverse_sequence(ctx.inputs[0], tf.cast(ctx.inputs[1], tf.int64),
                               seq_axis=ctx.attr("time_axis", 0), batch_axis=ctx.attr("batch_axis", 1))


# -- Compress, NonZero ------------------------------------------------------------------------------
@onnx_op("Compress", since=9)
def compress(ctx: Any) -> Any:
    import tensorflow as tf

    x, condition = ctx.inputs[0], tf.reshape(tf.cast(ctx.inputs[1], tf.bool), [-1])
    axis = ctx.attr("axis")
    if axis is None:
        x, axis = tf.reshape(x, [-1]), 0
    axis = norm_axis(axis, x.shape.rank)
    # Like numpy.compress, a condition shorter than the axis selects nothing past its end.
    n = tf.cast(dims(x)[axis], tf.int64)
    condition = condition[:n]
    condition = tf.pad(condition, [[0, n - tf.size(condition, out_type=tf.int64)]])
    return tf.boolean_mask(x, condition, axis=axis)


@onnx_op("NonZero", since=9)
def non_zero(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    mask = x if x.dtype == tf.bool else tf.not_equal(x, tf.zeros([], x.dtype))
    if x.shape.rank == 0:  # numpy (and onnx's reference) treat a scalar as a 1-element vector
        mask = tf.reshape(mask, [1])
    return tf.transpose(tf.where(mask))
