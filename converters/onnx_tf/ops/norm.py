"""Normalisations: BatchNormalization (inference)."""

from __future__ import annotations

from typing import Any

from converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


def _per_channel(t: Any, rank: int) -> Any:
    import tensorflow as tf

    return tf.reshape(t, [-1] + [1] * (rank - 2))


@onnx_op("BatchNormalization", since=1)
def batch_norm(ctx: Any) -> Any:
    import tensorflow as tf

    x, scale, bias, mean, var = ctx.inputs[:5]
    if ctx.attr("training_mode", 0):
        raise ctx.unsupported("training_mode=1 is not supported; export the model in eval mode")
    rank = x.shape.rank
    eps = ctx.attr("epsilon", 1e-5)
    inv = tf.math.rsqrt(tf.cast(var, x.dtype) + tf.cast(eps, x.dtype)) * tf.cast(scale, x.dtype)
    shift = tf.cast(bias, x.dtype) - tf.cast(mean, x.dtype) * inv
    return x * _per_channel(inv, rank) + _per_channel(shift, rank)
