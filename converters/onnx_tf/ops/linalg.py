"""Matrix products: Gemm, MatMul, MatMulInteger, QLinearMatMul, Einsum (Det lives in elementwise.py)."""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.ops._common import exact_in_float32
from bridge_converters.onnx_tf.passes.layout import MATMUL
from bridge_converters.onnx_tf.registry import onnx_op

__all__ = ["np_matmul", "mat_product", "centred_operand", "int_operands"]

# TF's CPU MatMul kernels cover these; other integer types are computed in int64 and cast back.
_MATMUL_NATIVE = {"float16", "bfloat16", "float32", "float64", "int32", "int64", "complex64", "complex128"}
# Batched products of these run as BatchMatMulV3: with oneDNN on, TF rewrites BatchMatMulV2 to a oneDNN
# call that costs ~50-140 us more a call than V3's Eigen kernel on attention-sized operands (and is no
# faster on BERT-base ones); TFLite's converter maps V3 to BATCH_MATMUL all the same.
_BATCH_V3 = {"float32", "float64"}


def mat_product(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False) -> Any:
    """``a @ b`` (optionally transposing the last two axes of either) for operands of rank >= 2, with
    numpy's batch broadcasting."""
    import tensorflow as tf

    if a.dtype.name in _BATCH_V3 and max(a.shape.rank or 3, b.shape.rank or 3) > 2:
        return tf.raw_ops.BatchMatMulV3(x=a, y=b, Tout=a.dtype, adj_x=transpose_a, adj_y=transpose_b)
    if a.dtype.name in _MATMUL_NATIVE:
        return tf.linalg.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    y = tf.linalg.matmul(tf.cast(a, tf.int64), tf.cast(b, tf.int64), transpose_a=transpose_a, transpose_b=transpose_b)
    return tf.cast(y, a.dtype)  # wraps like the narrow integer product would


def np_matmul(a: Any, b: Any) -> Any:
    """numpy.matmul semantics: batch broadcasting, 1-D operands promoted and the added axis removed."""
    import tensorflow as tf

    if a.shape.rank == 1 and b.shape.rank == 1:
        return tf.squeeze(mat_product(a[tf.newaxis, :], b[:, tf.newaxis]), axis=[0, 1])
    if a.shape.rank == 1:
        return tf.squeeze(mat_product(a[tf.newaxis, :], b), axis=-2)
    if b.shape.rank == 1:
        return tf.squeeze(mat_product(a, b[:, tf.newaxis]), axis=-1)
    if (a.shape.rank or 0) > 2 and b.shape.rank == 2 and a.shape[1:].is_fully_defined() and b.shape.is_fully_defined():
        # (..., K) x (K, N) as one 2-D product: TF's fused MatMul(+BiasAdd) kernels take it, BatchMatMul does
        # not; TFLite folds the reshapes into FULLY_CONNECTED
        k, n = b.shape.as_list()
        inner = a.shape.as_list()[1:-1]
        y = mat_product(tf.reshape(a, [-1, k]), b)
        if a.shape[0] is not None or all(d > 0 for d in inner):  # a run-time batch is the one -1: no SHAPE op
            return tf.reshape(y, [a.shape[0] if a.shape[0] is not None else -1, *inner, n])
        return tf.reshape(y, tf.concat([tf.shape(a)[:-1], [n]], 0))
    return mat_product(a, b)


@onnx_op("Gemm", since=1)
def gemm(ctx: Any) -> Any:
    import tensorflow as tf

    a, b = ctx.inputs[0], ctx.inputs[1]
    y = mat_product(a, b, transpose_a=bool(ctx.attr("transA", 0)), transpose_b=bool(ctx.attr("transB", 0)))
    alpha = ctx.attr("alpha", 1.0)
    if alpha != 1.0:
        y = y * tf.cast(alpha, y.dtype)
    c = ctx.input(2)
    if c is not None:
        beta = ctx.attr("beta", 1.0)
        if c.shape.rank == 2 and c.shape[0] == 1:
            # Grappler fuses MatMul+Add into a bias kernel that rejects a [1, N] bias: give it [N].
            c = tf.reshape(c, [-1]) if c.shape[1] is not None else c[0]
        y = y + (c if beta == 1.0 else c * tf.cast(beta, c.dtype))
    return y


@onnx_op("MatMul", since=1, layout=MATMUL)
def matmul(ctx: Any) -> Any:
    transpose_a, transpose_b = bool(ctx.attr("_transpose_a", 0)), bool(ctx.attr("_transpose_b", 0))
    if transpose_a or transpose_b:  # the layout plan passed an operand with its last two axes swapped
        return mat_product(ctx.inputs[0], ctx.inputs[1], transpose_a, transpose_b)
    return np_matmul(ctx.inputs[0], ctx.inputs[1])


def _zero_point_rows(zp: Any, rank: int, axis_from_end: int) -> Any:
    """A per-row (A, axis -2) or per-column (B, axis -1) zero point broadcast against its operand."""
    import tensorflow as tf

    if zp.shape.rank in (0, None) or rank < 2:
        return zp
    zp = tf.reshape(zp, [-1])
    return tf.reshape(zp, [-1, 1]) if axis_from_end == 2 else zp


def centred_operand(ctx: Any, i: int, zero_point: int, work: Any, axis_from_end: int) -> Any:
    """Integer input ``i`` minus its zero point (per tensor, or per row of A (``axis_from_end`` 2) or column of
    B (1)), in ``work``."""
    import tensorflow as tf

    t = tf.cast(ctx.inputs[i], work)
    if not ctx.has_input(zero_point):
        return t
    return t - _zero_point_rows(tf.cast(ctx.inputs[zero_point], work), t.shape.rank, axis_from_end)


def int_operands(ctx: Any, a_zp: int, b: int, b_zp: int) -> tuple[Any, Any, Any]:
    """A - a_zp and B - b_zp, in float32 where exact_in_float32 proves every sum exact (TFLite's float
    FULLY_CONNECTED / BATCH_MATMUL then run them), else in int32; and that dtype."""
    import tensorflow as tf

    out_axis = None if ctx.inputs[b].shape.rank == 1 else -1  # a vector B gives one output per row of A
    work = tf.float32 if exact_in_float32(ctx, 0, a_zp, b, b_zp, out_axis) else tf.int32
    return centred_operand(ctx, 0, a_zp, work, 2), centred_operand(ctx, b, b_zp, work, 1), work


@onnx_op("MatMulInteger", since=10)
def matmul_integer(ctx: Any) -> Any:
    import tensorflow as tf

    a, b, _ = int_operands(ctx, 2, 1, 3)
    return tf.cast(np_matmul(a, b), tf.int32)


def _saturate_round(y: Any, dtype: Any) -> Any:
    """Round half to even and clip into ``dtype``'s range, then cast."""
    import tensorflow as tf

    y = tf.round(y)  # tf.round rounds half to even, like numpy.rint
    return tf.cast(tf.clip_by_value(y, float(dtype.min), float(dtype.max)), dtype)


@onnx_op("QLinearMatMul", since=10)
def qlinear_matmul(ctx: Any) -> Any:
    import tensorflow as tf

    a, a_scale, _, b, b_scale, _, y_scale, y_zp = ctx.inputs[:8]
    ai, bi, work = int_operands(ctx, 2, 3, 5)
    acc = np_matmul(ai, bi)
    # The scale product is taken in the scales' own precision (float16 included); the rescale in float64,
    # as numpy promotes int32 * float there, or in float32 where the accumulator is exact in float32, as
    # ONNX Runtime's requantisation does.
    rescale = tf.float32 if work == tf.float32 else tf.float64
    a_scale = _zero_point_rows(a_scale, a.shape.rank, 2)
    b_scale = _zero_point_rows(b_scale, b.shape.rank, 1)
    multiplier = tf.cast(a_scale * b_scale / y_scale, rescale)
    y = tf.cast(acc, rescale) * multiplier
    if y_zp is not None:
        y = y + tf.cast(y_zp, rescale)
    return _saturate_round(y, y_zp.dtype if y_zp is not None else a.dtype)


def _einsum_equation(equation: str) -> str:
    """ONNX's equation with spaces removed and the implicit output made explicit."""
    eq = equation.replace(" ", "")
    if "->" in eq:
        return eq
    terms = eq.split(",")
    letters = [c for t in terms for c in t if c.isalpha()]
    once = sorted(c for c in set(letters) if letters.count(c) == 1)
    return f"{eq}->{'...' if '...' in eq else ''}{''.join(once)}"


@onnx_op("Einsum", since=12)
def einsum(ctx: Any) -> Any:
    import tensorflow as tf

    inputs = [t for t in ctx.inputs if t is not None]
    eq = _einsum_equation(ctx.attr("equation"))
    dtype = inputs[0].dtype
    if dtype.name in ("float32", "float64", "float16", "bfloat16", "int32", "int64", "complex64", "complex128"):
        return tf.einsum(eq, *inputs)
    # Narrow integers: compute in int64 (TF has no kernels for them) and wrap back.
    return tf.cast(tf.einsum(eq, *[tf.cast(t, tf.int64) for t in inputs]), dtype)

