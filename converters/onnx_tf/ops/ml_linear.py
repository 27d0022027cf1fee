"""Linear models and scalings of the ai.onnx.ml domain: LinearClassifier, LinearRegressor, Normalizer,
Scaler. Inputs of any numeric type are computed in float32 and give float32, as ONNX Runtime does."""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.ops._ml_common import ML, POST_TRANSFORMS, post_transform
from bridge_converters.onnx_tf.registry import onnx_op

__all__ = ["as_rows", "class_labels"]


def as_rows(x: Any) -> Any:
    """x as float32 rows [N, C]: a vector is one row."""
    import tensorflow as tf

    x = tf.cast(x, tf.float32)
    return x[None, :] if x.shape.rank == 1 else x


def class_labels(ctx: Any) -> Any:
    """``classlabels_ints`` (``_int64s`` in some ops) or ``classlabels_strings`` (as bytes) as a numpy array."""
    import numpy as np

    ints = ctx.attr("classlabels_ints", ctx.attr("classlabels_int64s"))
    if ints is not None:
        return np.asarray(ints, np.int64)
    return np.array([str(s).encode() for s in ctx.attr("classlabels_strings", [])], dtype=object)


def _post(ctx: Any) -> int:
    name = ctx.attr("post_transform", "NONE")
    if name not in POST_TRANSFORMS:
        raise ctx.unsupported(f"post_transform {name!r}")
    return POST_TRANSFORMS[name]


def _affine(ctx: Any, n_out: int) -> Any:
    """X @ coefficients^T + intercepts, with coefficients listed output-major."""
    import numpy as np
    import tensorflow as tf

    x = as_rows(ctx.inputs[0])
    coef = np.asarray(ctx.attr("coefficients"), np.float32)
    features = x.shape[-1]
    if features is not None and coef.size > n_out * features and coef.size % n_out == 0:
        # More coefficients than the input has features (a model exported for wider rows): ONNX Runtime
        # reads them as [outputs, features] row-major from the start, and so do we.
        ctx.warn(f"{ctx.op_type} '{ctx.name or '(unnamed)'}': {coef.size} coefficients for {n_out} outputs of "
                 f"{features} features; like ONNX Runtime, the first {n_out * features} are used")
        coef = coef[: n_out * features]
    y = tf.matmul(x, tf.constant(coef.reshape(n_out, -1)), transpose_b=True)
    intercepts = ctx.attr("intercepts")
    return y + tf.constant(np.asarray(intercepts, np.float32)) if intercepts else y


@onnx_op("LinearClassifier", since=1, domain=ML)
def linear_classifier(ctx: Any) -> Any:
    """Outputs (label, scores). One score column and two labels is the binary case: the label is
    labels[1] where the score is positive, and the scores are [1 - p, p] with p the score, or its logistic
    under LOGISTIC (what ONNX Runtime 1.2x computes)."""
    import numpy as np
    import tensorflow as tf

    labels = class_labels(ctx)
    n_out = len(ctx.attr("intercepts") or []) or len(np.asarray(ctx.attr("coefficients"))) // int(ctx.inputs[0].shape[-1])
    scores = _affine(ctx, n_out)
    post = _post(ctx)
    if n_out == 1:
        if len(labels) == 2:
            pos, neg = labels[1], labels[0]
        else:
            pos, neg = (b"1", b"0") if labels.dtype == object else (np.int64(1), np.int64(0))
        label = tf.where(scores[:, 0] > 0, tf.constant(pos), tf.constant(neg))
        if post == 4:
            return [label, post_transform(scores, 4)]
        if len(labels) == 2:
            p = tf.sigmoid(scores) if post == 2 else scores
            return [label, tf.concat([1.0 - p, p], axis=1)]
        return [label, scores]
    label = tf.gather(tf.constant(labels), tf.argmax(scores, axis=1))
    return [label, post_transform(scores, post)]


@onnx_op("LinearRegressor", since=1, domain=ML)
def linear_regressor(ctx: Any) -> Any:
    targets = int(ctx.attr("targets", 1))
    y = _affine(ctx, targets)
    post = _post(ctx)
    if post not in (0, 4):
        raise ctx.unsupported("post_transform other than NONE or PROBIT")
    return post_transform(y, post)


@onnx_op("Normalizer", since=1, domain=ML)
def normalizer(ctx: Any) -> Any:
    """Each row divided by its MAX (largest value), L1 or L2 norm."""
    import tensorflow as tf

    x = as_rows(ctx.inputs[0])
    norm = ctx.attr("norm", "MAX")
    if norm == "MAX":
        d = tf.reduce_max(x, axis=1, keepdims=True)
    elif norm == "L1":
        d = tf.reduce_sum(tf.abs(x), axis=1, keepdims=True)
    elif norm == "L2":
        d = tf.sqrt(tf.reduce_sum(tf.square(x), axis=1, keepdims=True))
    else:
        raise ctx.unsupported(f"norm {norm!r}")
    y = x / d
    return y if ctx.inputs[0].shape.rank != 1 else y[0]


@onnx_op("Scaler", since=1, domain=ML)
def scaler(ctx: Any) -> Any:
    """(x - offset) * scale, per feature or one value for all."""
    import numpy as np
    import tensorflow as tf

    x = tf.cast(ctx.inputs[0], tf.float32)
    offset = np.asarray(ctx.attr("offset", [0.0]), np.float32)
    scale = np.asarray(ctx.attr("scale", [1.0]), np.float32)
    return (x - tf.constant(offset)) * tf.constant(scale)
