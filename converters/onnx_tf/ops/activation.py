"""Softmax-family activations across their opset changes."""

from __future__ import annotations

from typing import Any

from converters.onnx_tf.ops._common import norm_axis
from converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


def _softmax_legacy(ctx: Any, fn: Any) -> Any:
    """Opset < 13: coerce to 2D at ``axis`` (default 1), apply along the last axis, restore the shape."""
    import tensorflow as tf

    x = ctx.inputs[0]
    rank = x.shape.rank
    axis = norm_axis(ctx.attr("axis", 1), rank)
    shape = tf.shape(x)
    flat = tf.reshape(x, tf.stack([tf.reduce_prod(shape[:axis]), tf.reduce_prod(shape[axis:])]))
    return tf.reshape(fn(flat, axis=-1), shape)


@onnx_op("Softmax", since=1)
def softmax_v1(ctx: Any) -> Any:
    import tensorflow as tf

    return _softmax_legacy(ctx, tf.nn.softmax)


@onnx_op("Softmax", since=13)
def softmax_v13(ctx: Any) -> Any:
    import tensorflow as tf

    return tf.nn.softmax(ctx.inputs[0], axis=ctx.attr("axis", -1))
