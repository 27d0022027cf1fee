"""Shape manipulation: Reshape, Flatten, Transpose, Concat."""

from __future__ import annotations

from typing import Any

from converters.onnx_tf.ops._common import norm_axis
from converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


@onnx_op("Reshape", since=5)
def reshape(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    allowzero = bool(ctx.attr("allowzero", 0))
    target = ctx.const(1)
    if target is not None:
        dims = [int(d) for d in target]
        if not allowzero and 0 in dims:
            in_shape = tf.shape(x, out_type=tf.int64)
            dims_t = [in_shape[i] if d == 0 else tf.constant(d, tf.int64) for i, d in enumerate(dims)]
            static = x.shape.as_list() if x.shape.rank is not None else []
            if all(static[i] is not None for i, d in enumerate(dims) if d == 0):
                return tf.reshape(x, [static[i] if d == 0 else d for i, d in enumerate(dims)])
            return tf.reshape(x, tf.stack(dims_t))
        return tf.reshape(x, dims)
    shape = tf.cast(ctx.inputs[1], tf.int64)
    if not allowzero:
        in_shape = tf.shape(x, out_type=tf.int64)
        n = tf.size(shape)
        padded = tf.pad(in_shape, [[0, tf.maximum(0, n - tf.size(in_shape))]])[:n]
        shape = tf.where(tf.equal(shape, 0), padded, shape)
    return tf.reshape(x, shape)


@onnx_op("Flatten", since=1)
def flatten(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    rank = x.shape.rank
    axis = norm_axis(ctx.attr("axis", 1), rank)
    static = x.shape.as_list()
    if all(d is not None for d in static):
        outer = 1
        for d in static[:axis]:
            outer *= d
        return tf.reshape(x, [outer, -1] if outer else [0, -1 if axis < rank else 1])
    shape = tf.shape(x)
    return tf.reshape(x, tf.stack([tf.reduce_prod(shape[:axis]), tf.reduce_prod(shape[axis:])]))


@onnx_op("Transpose", since=1)
def transpose(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    perm = ctx.attr("perm")
    return tf.transpose(x, perm=list(perm) if perm is not None else None)


@onnx_op("Concat", since=4)
def concat(ctx: Any) -> Any:
    import tensorflow as tf

    inputs = [t for t in ctx.inputs if t is not None]
    rank = inputs[0].shape.rank
    return tf.concat(inputs, axis=norm_axis(ctx.attr("axis"), rank))
