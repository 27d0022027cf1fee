"""Matrix products: Gemm, MatMul."""

from __future__ import annotations

from typing import Any

from converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


@onnx_op("Gemm", since=7)
def gemm(ctx: Any) -> Any:
    import tensorflow as tf

    a, b = ctx.inputs[0], ctx.inputs[1]
    y = tf.linalg.matmul(a, b, transpose_a=bool(ctx.attr("transA", 0)), transpose_b=bool(ctx.attr("transB", 0)))
    alpha = ctx.attr("alpha", 1.0)
    if alpha != 1.0:
        y = y * tf.cast(alpha, y.dtype)
    c = ctx.input(2)
    if c is not None:
        beta = ctx.attr("beta", 1.0)
        y = y + (c if beta == 1.0 else c * tf.cast(beta, c.dtype))
    return y


@onnx_op("MatMul", since=1)
def matmul(ctx: Any) -> Any:
    import tensorflow as tf

    a, b = ctx.inputs
    # ONNX follows numpy.matmul: 1-D operands are promoted and the added axis removed afterwards.
    if a.shape.rank == 1 and b.shape.rank == 1:
        return tf.reduce_sum(a * b)
    if a.shape.rank == 1:
        return tf.squeeze(tf.linalg.matmul(a[tf.newaxis, :], b), axis=-2)
    if b.shape.rank == 1:
        return tf.squeeze(tf.linalg.matmul(a, b[:, tf.newaxis]), axis=-1)
    return tf.linalg.matmul(a, b)
