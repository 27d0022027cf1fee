"""Losses: NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss."""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


def _nll(ctx: Any, log_prob: Any, target: Any, weight: Any) -> Any:
    """ONNX's NLL over class axis 1 of ``log_prob`` [N, C, d...] with ``target`` [N, d...]."""
    import tensorflow as tf

    reduction = ctx.attr("reduction", "mean")
    ignore_index = ctx.attr("ignore_index")
    dtype = log_prob.dtype
    target = tf.cast(target, tf.int64)
    num_classes = tf.shape(log_prob, out_type=tf.int64)[1]
    ignored = tf.equal(target, ignore_index) if ignore_index is not None else tf.zeros_like(target, tf.bool)
    # Ignored targets may lie outside [0, C); gather a safe index and zero them afterwards.
    safe = tf.where(ignored, tf.zeros_like(target), target)
    rank = log_prob.shape.rank
    moved = tf.transpose(log_prob, [0, *range(2, rank), 1])  # [N, d..., C]
    picked = -tf.gather(moved, safe[..., None], axis=-1, batch_dims=target.shape.rank)[..., 0]
    keep = tf.cast(tf.logical_not(ignored), dtype)
    if weight is not None:
        # Like the reference, out-of-range (non-ignored) targets read a clipped weight.
        w = tf.gather(tf.cast(weight, dtype), tf.clip_by_value(target, 0, num_classes - 1)) * keep
    else:
        w = keep
    loss = picked * w
    if reduction == "none":
        return loss
    if reduction == "sum":
        return tf.reduce_sum(loss)
    if reduction == "mean":
        if weight is None and ignore_index is None:
            return tf.reduce_mean(loss)
        return tf.reduce_sum(loss) / tf.reduce_sum(w)
    raise ctx.unsupported(f"unknown reduction {reduction!r}")


@onnx_op("NegativeLogLikelihoodLoss", since=12)
@onnx_op("NegativeLogLikelihoodLoss", since=13)
@onnx_op("NegativeLogLikelihoodLoss", since=22)
def negative_log_likelihood_loss(ctx: Any) -> Any:
    return _nll(ctx, ctx.inputs[0], ctx.inputs[1], ctx.input(2))


@onnx_op("SoftmaxCrossEntropyLoss", since=12)
@onnx_op("SoftmaxCrossEntropyLoss", since=13)
def softmax_cross_entropy_loss(ctx: Any) -> Any:
    import tensorflow as tf

    scores = ctx.inputs[0]
    log_prob = tf.nn.log_softmax(scores, axis=1)
    loss = _nll(ctx, log_prob, ctx.inputs[1], ctx.input(2))
    return [loss, log_prob] if ctx.num_outputs > 1 else loss
