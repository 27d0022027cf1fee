"""Helpers shared by the ai.onnx.ml op families: post transforms as ONNX Runtime computes them."""

from __future__ import annotations

from typing import Any

__all__ = ["ML", "POST_TRANSFORMS", "post_transform"]

ML = "ai.onnx.ml"
# The string attribute of the older ops, as the integer code of TreeEnsemble-5.
POST_TRANSFORMS = {"NONE": 0, "SOFTMAX": 1, "LOGISTIC": 2, "SOFTMAX_ZERO": 3, "PROBIT": 4}


def post_transform(y: Any, kind: int) -> Any:
    """ONNX-ML post transforms over the target axis, as onnxruntime computes them."""
    import math

    import tensorflow as tf

    if kind == 0:
        return y
    if kind == 1:
        return tf.nn.softmax(y, axis=-1)
    if kind == 2:
        return tf.sigmoid(y)
    if kind == 3:  # softmax over the non-zero entries; zeros stay zero
        nonzero = tf.abs(y) > 1e-7
        v_max = tf.reduce_max(y, axis=-1, keepdims=True)
        e = tf.where(nonzero, tf.exp(y - v_max), y * tf.exp(-v_max))
        s = tf.reduce_sum(e, axis=-1, keepdims=True)
        return tf.where(s == 0, tf.constant(0.5, y.dtype), e / tf.where(s == 0, tf.ones_like(s), s))
    if kind == 4:  # probit with the same erf-inverse approximation as the reference and onnxruntime
        x = tf.cast(y, tf.float64) * 2 - 1  # float64: v * v - log / 0.147 cancels badly near 0.5
        sgn = tf.where(x < 0, tf.constant(-1.0, tf.float64), tf.constant(1.0, tf.float64))
        w = (1.0 - x) * (1.0 + x)
        log = tf.math.log(tf.where(w == 0, tf.ones_like(w), w))
        v = 2.0 / (math.pi * 0.147) + 0.5 * log
        v3 = -v + tf.sqrt(v * v - log / 0.147)
        return tf.cast(tf.where(w == 0, tf.zeros_like(x), 1.41421356 * sgn * tf.sqrt(v3)), y.dtype)
    raise ValueError(f"unknown post_transform {kind}")  # checked by the caller


