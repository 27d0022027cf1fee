"""ONNX Runtime's fused products (domain com.microsoft): FusedConv, FusedGemm, FusedMatMul (and its old
name TransposeMatMul).

Its offline graph optimisation (ORT_ENABLE_EXTENDED on CPU) writes these: Conv or Gemm followed by an
activation, and MatMul with the Transposes and scalar Mul around it folded into attributes. The product
itself is the standard op's handler; the activation is applied after it.
"""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.ops._common import permute
from bridge_converters.onnx_tf.ops.conv import conv
from bridge_converters.onnx_tf.ops.linalg import gemm, mat_product
from bridge_converters.onnx_tf.ops.ms_activation import MS
from bridge_converters.onnx_tf.registry import onnx_op

__all__ = ["fused_activation"]


def fused_activation(ctx: Any, y: Any, name: str, params: list[float]) -> Any:
    """``y`` through the activation ORT's fusions name, with its parameters in the order they list them."""
    import tensorflow as tf

    def p(i: int, default: float) -> Any:
        return tf.cast(params[i] if len(params) > i else default, y.dtype)

    if not name:
        return y
    if name == "Relu":
        return tf.nn.relu(y)
    if name == "Tanh":
        return tf.tanh(y)
    if name == "Sigmoid":
        return tf.sigmoid(y)
    if name == "LeakyRelu":
        return tf.where(y >= 0, y, y * p(0, 0.01))
    if name == "Clip":
        return tf.clip_by_value(y, p(0, float("-inf")), p(1, float("inf")))
    if name == "HardSigmoid":
        return tf.clip_by_value(y * p(0, 0.2) + p(1, 0.5), tf.zeros([], y.dtype), tf.ones([], y.dtype))
    raise ctx.unsupported(f"fused activation {name!r}")


@onnx_op("FusedConv", since=1, domain=MS)
def fused_conv(ctx: Any) -> Any:
    """activation(Conv(X, W, B) + Z)"""
    y = conv(ctx)  # the Conv handler reads X, W and B only
    z = ctx.input(3)
    if z is not None:
        y = y + z
    return fused_activation(ctx, y, ctx.attr("activation", ""), list(ctx.attr("activation_params", [])))


@onnx_op("FusedGemm", since=1, domain=MS)
def fused_gemm(ctx: Any) -> Any:
    params = [ctx.attr(k) for k in ("activation_alpha", "activation_beta", "activation_gamma")]
    present = [float(v) for v in params if v is not None]
    return fused_activation(ctx, gemm(ctx), ctx.attr("activation", ""), present)


def _batch_transpose(x: Any) -> Any:
    """transBatch: dim 0 moves behind the other batch dims, [0, 1, ..., r-2, r-1] -> [1, ..., r-2, 0, r-1]."""
    rank = x.shape.rank
    return permute(x, [*range(1, rank - 1), 0, rank - 1])


@onnx_op("FusedMatMul", since=1, domain=MS)
@onnx_op("TransposeMatMul", since=1, domain=MS)
def fused_matmul(ctx: Any) -> Any:
    """alpha * (op(A) @ op(B)) with numpy matmul broadcasting."""
    import tensorflow as tf

    a, b = ctx.inputs[0], ctx.inputs[1]
    if a.shape.rank is None or b.shape.rank is None:
        raise ctx.unsupported("the operands' ranks must be known")
    trans = [bool(ctx.attr(k, 0)) for k in ("transA", "transB", "transBatchA", "transBatchB")]
    if a.shape.rank == 1 or b.shape.rank == 1:
        if any(trans):
            raise ctx.unsupported("transposes of a 1-D operand")
        y = tf.linalg.matvec(a, b) if b.shape.rank == 1 else tf.squeeze(tf.matmul(a[None, :], b), -2)
    else:
        if trans[2] and a.shape.rank > 2:
            a = _batch_transpose(a)
        if trans[3] and b.shape.rank > 2:
            b = _batch_transpose(b)
        y = mat_product(a, b, transpose_a=trans[0], transpose_b=trans[1])
    alpha = float(ctx.attr("alpha", 1.0))
    return y if alpha == 1.0 else y * tf.cast(alpha, y.dtype)
