"""Indexing: Gather, GatherElements, GatherND, Scatter, ScatterElements, ScatterND, TensorScatter, OneHot.

ONNX indices may be negative (counting from the end of their axis); they are wrapped before TF sees them.
"""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.ops._common import norm_axis
from bridge_converters.onnx_tf.ops.shape import dims
from bridge_converters.onnx_tf.passes.layout_axes import GATHER
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


def _wrap(indices: Any, dim: Any) -> Any:
    import tensorflow as tf

    indices = tf.cast(indices, tf.int64)
    return tf.where(indices < 0, indices + tf.cast(dim, tf.int64), indices)


def _element_coords(indices: Any, axis: int, axis_dim: Any) -> Any:
    """Full coordinates [*indices.shape, rank] for an element-wise gather/scatter along ``axis``."""
    import tensorflow as tf

    rank = indices.shape.rank
    shape = tf.shape(indices, out_type=tf.int64)
    coords = []
    for d in range(rank):
        if d == axis:
            coords.append(_wrap(indices, axis_dim))
        else:
            view = [1] * rank
            view[d] = -1
            coords.append(tf.broadcast_to(tf.reshape(tf.range(shape[d]), view), shape))
    return tf.stack(coords, axis=-1)


def _scatter_nd(ctx: Any, data: Any, coords: Any, updates: Any) -> Any:
    """data with ``updates`` written at ``coords`` ([..., k]), combined per the ``reduction`` attribute."""
    import tensorflow as tf

    reduction = ctx.attr("reduction", "none")
    if reduction == "none":
        return tf.tensor_scatter_nd_update(data, coords, updates)
    if reduction == "add":
        return tf.tensor_scatter_nd_add(data, coords, updates)
    # mul, max and min: each slot's updates reduced by a segment op (TFLite builtins, where scatter-max and
    # -min are Flex and TF has no scatter-multiply), then combined into data; a slot no update lands in
    # holds the reduction's identity (1, lowest, highest), which leaves data as it is.
    reduce = {"mul": (tf.math.unsorted_segment_prod, tf.multiply), "max": (tf.math.unsorted_segment_max, tf.maximum),
              "min": (tf.math.unsorted_segment_min, tf.minimum)}.get(reduction)
    if reduce is None:
        raise ctx.unsupported(f"reduction {reduction!r}")
    k = coords.shape[-1]
    if k is None:
        k = tf.shape(coords, out_type=tf.int64)[-1]
    data_shape = tf.shape(data, out_type=tf.int64)
    outer, inner = data_shape[:k], data_shape[k:]
    slots = tf.reduce_prod(outer)
    strides = tf.math.cumprod(outer, exclusive=True, reverse=True)
    flat_ids = tf.reshape(tf.reduce_sum(coords * strides, axis=-1), [-1])
    flat_updates = tf.reshape(updates, tf.concat([[-1], inner], 0))
    segment, combine = reduce
    return combine(data, tf.reshape(segment(flat_updates, flat_ids, slots), data_shape))


# -- gathers ----------------------------------------------------------------------------------------
@onnx_op("Gather", since=1, layout=GATHER)
def gather(ctx: Any) -> Any:
    import tensorflow as tf

    x, indices = ctx.inputs[0], ctx.inputs[1]
    axis = norm_axis(ctx.attr("axis", 0), x.shape.rank)
    return tf.gather(x, _wrap(indices, dims(x)[axis]), axis=axis)


@onnx_op("GatherElements", since=11)
def gather_elements(ctx: Any) -> Any:
    import tensorflow as tf

    x, indices = ctx.inputs[0], ctx.inputs[1]
    axis = norm_axis(ctx.attr("axis", 0), x.shape.rank)
    return tf.gather_nd(x, _element_coords(indices, axis, dims(x)[axis]))


def _nd_coords(data: Any, indices: Any, batch_dims: int) -> Any:
    import tensorflow as tf

    k = indices.shape[-1]
    if k is None:
        k = tf.shape(indices, out_type=tf.int64)[-1]
    limits = tf.shape(data, out_type=tf.int64)[batch_dims:batch_dims + k]
    indices = tf.cast(indices, tf.int64)
    return tf.where(indices < 0, indices + limits, indices)


@onnx_op("GatherND", since=11)
def gather_nd(ctx: Any) -> Any:
    import tensorflow as tf

    data, indices = ctx.inputs[0], ctx.inputs[1]
    batch_dims = int(ctx.attr("batch_dims", 0))
    return tf.gather_nd(data, _nd_coords(data, indices, batch_dims), batch_dims=batch_dims)


# -- scatters ---------------------------------------------------------------------------------------
def _scatter_elements(ctx: Any) -> Any:
    data, indices, updates = ctx.inputs[:3]
    axis = norm_axis(ctx.attr("axis", 0), data.shape.rank)
    return _scatter_nd(ctx, data, _element_coords(indices, axis, dims(data)[axis]), updates)


@onnx_op("Scatter", since=9)
def scatter(ctx: Any) -> Any:
    return _scatter_elements(ctx)  # deprecated alias of ScatterElements (no reduction)


@onnx_op("ScatterElements", since=11)
def scatter_elements(ctx: Any) -> Any:
    return _scatter_elements(ctx)


@onnx_op("ScatterND", since=11)
def scatter_nd(ctx: Any) -> Any:
    data, indices, updates = ctx.inputs[:3]
    return _scatter_nd(ctx, data, _nd_coords(data, indices, 0), updates)


@onnx_op("TensorScatter", since=24)
def tensor_scatter(ctx: Any) -> Any:
    import tensorflow as tf

    cache, update = ctx.inputs[0], ctx.inputs[1]
    rank = cache.shape.rank
    axis = norm_axis(ctx.attr("axis", -2), rank)
    if axis == 0:
        raise ctx.unsupported("axis 0 is the batch axis")
    # Bring (batch, sequence) to the front so each update row gets a 2-D (batch, position) index.
    perm = [0, axis, *[d for d in range(1, rank) if d != axis]]
    inverse = [perm.index(d) for d in range(rank)]
    cache_t, update_t = tf.transpose(cache, perm), tf.transpose(update, perm)
    batch, max_len = (tf.cast(d, tf.int64) for d in dims(cache_t)[:2])
    seq_len = tf.cast(dims(update_t)[1], tf.int64)
    start = tf.reshape(tf.cast(ctx.inputs[2], tf.int64), [-1]) if ctx.has_input(2) else tf.zeros([batch], tf.int64)
    positions = start[:, None] + tf.range(seq_len)[None, :]
    if ctx.attr("mode", "linear") == "circular":
        positions = tf.math.floormod(positions, max_len)
    rows = tf.broadcast_to(tf.range(batch)[:, None], tf.shape(positions, out_type=tf.int64))
    coords = tf.stack([rows, positions], axis=-1)
    return tf.transpose(tf.tensor_scatter_nd_update(cache_t, coords, update_t), inverse)


@onnx_op("OneHot", since=9)
def one_hot(ctx: Any) -> Any:
    import tensorflow as tf

    indices, depth, values = ctx.inputs[:3]
    rank = indices.shape.rank
    axis = norm_axis(ctx.attr("axis", -1), rank + 1)
    # Compared like onnx's reference: positions 0..depth-1 against indices (negatives wrapped); indices that
    # are out of range (or non-integral floats) match nothing and give off_value everywhere.
    work = tf.float64 if indices.dtype.is_floating else tf.int64
    depth = tf.reshape(depth, [])
    depth_n = tf.cast(tf.math.ceil(tf.cast(depth, tf.float64)), tf.int64)
    idx = tf.cast(indices, work)
    idx = tf.where(idx < 0, idx + tf.cast(depth, work), idx)
    view = [1] * (rank + 1)
    view[axis] = -1
    targets = tf.reshape(tf.cast(tf.range(depth_n), work), view)
    hit = tf.equal(tf.expand_dims(idx, axis), targets)
    values = tf.reshape(values, [2])
    return tf.where(hit, values[1], values[0])
