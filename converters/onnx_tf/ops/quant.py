"""Linear quantisation: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear.

Integer targets only (int8/uint8/int16/uint16, and int32 inputs to DequantizeLinear): TensorFlow has no
float8, float4 or 2/4-bit integer tensors.
"""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.ops._common import norm_axis
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []

_INT_TARGETS = {"int8", "uint8", "int16", "uint16"}


def _broadcast_param(ctx: Any, value: Any, x: Any) -> Any:
    """A scale or zero point shaped to broadcast against ``x``: per tensor, per axis, or blocked."""
    import tensorflow as tf

    rank = value.shape.rank
    if rank == 0:
        return value
    if value.shape.num_elements() == 1:
        return tf.reshape(value, [])
    axis = norm_axis(int(ctx.attr("axis", 1)), x.shape.rank)
    block = int(ctx.attr("block_size", 0) or 0)
    if not block:
        if rank != 1:
            raise ctx.unsupported("a per-axis scale must be 1-D (or give block_size)")
        return tf.reshape(value, [-1] + [1] * (x.shape.rank - 1 - axis))
    # blocked: every element of the block shares its scale; the last block may be short
    repeated = tf.repeat(value, block, axis=axis)
    return tf.gather(repeated, tf.range(tf.shape(x)[axis]), axis=axis)


def _target_dtype(ctx: Any, zero_point: Any) -> Any:
    import tensorflow as tf

    from bridge_converters.onnx_tf.dtypes import tf_dtype

    if zero_point is not None:
        dtype = zero_point.dtype
    elif ctx.attr("output_dtype"):
        dtype = tf_dtype(ctx.attr("output_dtype"))
    else:
        dtype = tf.uint8
    if dtype.name not in _INT_TARGETS:
        raise ctx.unsupported(f"quantising to {dtype.name} (TensorFlow has integer targets only)")
    return dtype


@onnx_op("QuantizeLinear", since=10)
def quantize_linear(ctx: Any) -> Any:
    # 13: per-axis; 19: float8 + saturate; 21: blocked + output_dtype; 23-25: more types; precision later.
    import tensorflow as tf

    from bridge_converters.onnx_tf.dtypes import tf_dtype

    x, scale = ctx.inputs[0], ctx.inputs[1]
    zero_point = ctx.input(2)
    dtype = _target_dtype(ctx, zero_point)
    # x / scale is taken in numpy's promoted type of the two (or in `precision`); half types divide in
    # float32 and round back, which is what numpy's float16 division does
    precision = ctx.attr("precision", 0)
    if precision:
        work = tf_dtype(precision)
    elif x.dtype.is_integer or tf.float64 in (x.dtype, scale.dtype):
        work = tf.float64
    elif x.dtype == scale.dtype and x.dtype in (tf.float16, tf.bfloat16):
        work = x.dtype
    else:
        work = tf.float32
    wide = tf.float32 if work in (tf.float16, tf.bfloat16) else work
    x_w, scale_w = (tf.cast(tf.cast(t, work), wide) for t in (x, _broadcast_param(ctx, scale, x)))
    y = tf.round(tf.cast(x_w / scale_w, work))  # half to even
    y = tf.cast(y, tf.float64)
    if zero_point is not None:
        y = y + tf.cast(_broadcast_param(ctx, zero_point, x), tf.float64)
    return tf.cast(tf.clip_by_value(y, float(dtype.min), float(dtype.max)), dtype)


@onnx_op("DequantizeLinear", since=10)
def dequantize_linear(ctx: Any) -> Any:
    # 13: per-axis; 19: float8; 21: blocked; 23: output_dtype.
    import tensorflow as tf

    from bridge_converters.onnx_tf.dtypes import tf_dtype

    x, scale = ctx.inputs[0], ctx.inputs[1]
    zero_point = ctx.input(2)
    if x.dtype.name not in _INT_TARGETS | {"int32"}:
        raise ctx.unsupported(f"dequantising {x.dtype.name}")
    dx = tf.cast(x, tf.float32)
    if zero_point is not None:
        dx = dx - tf.cast(_broadcast_param(ctx, zero_point, x), tf.float32)
    y = dx * tf.cast(_broadcast_param(ctx, scale, x), tf.float32)
    out = tf_dtype(ctx.attr("output_dtype")) if ctx.attr("output_dtype") else scale.dtype
    return tf.cast(y, out)


@onnx_op("DynamicQuantizeLinear", since=11)
def dynamic_quantize_linear(ctx: Any) -> Any:
    import tensorflow as tf

    x = tf.cast(ctx.inputs[0], tf.float32)
    qmin, qmax = 0.0, 255.0
    hi = tf.maximum(0.0, tf.reduce_max(x))
    lo = tf.minimum(0.0, tf.reduce_min(x))
    scale = tf.where(tf.equal(hi, lo), 1.0, hi - lo) / (qmax - qmin)
    zero_point = tf.round(tf.clip_by_value(qmin - lo / scale, qmin, qmax))
    y = tf.clip_by_value(tf.round(x / scale) + zero_point, qmin, qmax)
    return [tf.cast(y, tf.uint8), tf.cast(scale, ctx.inputs[0].dtype), tf.cast(zero_point, tf.uint8)]
