"""Linear quantisation: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear.

Integer targets only (int8/uint8/int16/uint16, and int32 inputs to DequantizeLinear): TensorFlow has no
float8, float4 or 2/4-bit integer tensors.

Nodes marked by the fake-quant pass (``passes/fake_quant.py``) convert differently: a marked Q -> DQ pair
is one ``FakeQuantWithMinMaxVars`` in float, which the TFLite converter turns into integer kernels.
"""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.ops._common import norm_axis
from bridge_converters.onnx_tf.registry import onnx_op

__all__ = ["dynamic_uint8"]

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


def _fake_quant(ctx: Any, weight: bool) -> Any:
    """Quantise-dequantise ``x`` with the node's constant scale and zero point, as TF's fake-quant op (8 bits);
    a weight is symmetric in [-127, 127] (narrow range), as TFLite's int8 kernels want it."""
    import numpy as np
    import tensorflow as tf

    x = tf.cast(ctx.inputs[0], tf.float32)
    scale = np.asarray(ctx.require_const(1, "a fake-quant scale"), np.float64)
    zero = ctx.const(2)
    zero = np.zeros((), np.uint8) if zero is None else np.asarray(zero)
    info = np.iinfo(zero.dtype)
    qmin = info.min + 1 if weight else info.min
    low = ((qmin - zero.astype(np.float64)) * scale).astype(np.float32)
    high = ((info.max - zero.astype(np.float64)) * scale).astype(np.float32)
    if scale.size == 1:
        return tf.quantization.fake_quant_with_min_max_args(x, float(low.reshape(-1)[0]), float(high.reshape(-1)[0]),
                                                            num_bits=8, narrow_range=weight)
    # per axis: TF's per-channel fake quant takes the channel last
    axis = norm_axis(int(ctx.attr("axis", 1)), x.shape.rank)
    perm = [d for d in range(x.shape.rank) if d != axis] + [axis]
    moved = tf.transpose(x, perm)
    faked = tf.quantization.fake_quant_with_min_max_vars_per_channel(
        moved, tf.constant(np.broadcast_to(low, scale.shape).reshape(-1)),
        tf.constant(np.broadcast_to(high, scale.shape).reshape(-1)), num_bits=8, narrow_range=weight)
    return tf.transpose(faked, [perm.index(d) for d in range(x.shape.rank)])


@onnx_op("QuantizeLinear", since=10)
def quantize_linear(ctx: Any) -> Any:
    # 13: per-axis; 19: float8 + saturate; 21: blocked + output_dtype; 23-25: more types; precision later.
    import tensorflow as tf

    from bridge_converters.onnx_tf.dtypes import tf_dtype
    from bridge_converters.onnx_tf.passes.fake_quant import mark_of

    mark = mark_of(ctx.node)
    if mark in ("pair", "weight"):
        return _fake_quant(ctx, weight=mark == "weight")
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
    # float32 holds every 8- and 16-bit integer exactly, so the zero point and the clip need no float64
    # (which TFLite's builtin kernels lack)
    y = tf.cast(y, wide)
    if zero_point is not None:
        y = y + tf.cast(_broadcast_param(ctx, zero_point, x), wide)
    return tf.cast(tf.clip_by_value(y, float(dtype.min), float(dtype.max)), dtype)


@onnx_op("DequantizeLinear", since=10)
def dequantize_linear(ctx: Any) -> Any:
    # 13: per-axis; 19: float8; 21: blocked; 23: output_dtype.
    import tensorflow as tf

    from bridge_converters.onnx_tf.dtypes import tf_dtype
    from bridge_converters.onnx_tf.passes.fake_quant import mark_of

    x, scale = ctx.inputs[0], ctx.inputs[1]
    if mark_of(ctx.node) == "through":  # the fake-quant Q before it already gave the dequantized value
        return tf.cast(x, scale.dtype)
    zero_point = ctx.input(2)
    if x.dtype.name not in _INT_TARGETS | {"int32"}:
        raise ctx.unsupported(f"dequantising {x.dtype.name}")
    dx = tf.cast(x, tf.float32)
    if zero_point is not None:
        dx = dx - tf.cast(_broadcast_param(ctx, zero_point, x), tf.float32)
    y = dx * tf.cast(_broadcast_param(ctx, scale, x), tf.float32)
    out = tf_dtype(ctx.attr("output_dtype")) if ctx.attr("output_dtype") else scale.dtype
    return tf.cast(y, out)


def dynamic_uint8(x: Any) -> tuple[Any, Any, Any]:
    """float32 ``x`` quantised to uint8 over its own range (widened to hold 0) as ONNX Runtime does:
    (codes, scale, zero point), the codes and zero point as float32 integers."""
    import tensorflow as tf

    qmin, qmax = 0.0, 255.0
    hi = tf.maximum(0.0, tf.reduce_max(x))
    lo = tf.minimum(0.0, tf.reduce_min(x))
    scale = tf.where(tf.equal(hi, lo), 1.0, hi - lo) / (qmax - qmin)
    zero_point = tf.round(tf.clip_by_value(qmin - lo / scale, qmin, qmax))
    return tf.clip_by_value(tf.round(x / scale) + zero_point, qmin, qmax), scale, zero_point


@onnx_op("DynamicQuantizeLinear", since=11)
def dynamic_quantize_linear(ctx: Any) -> Any:
    import tensorflow as tf

    y, scale, zero_point = dynamic_uint8(tf.cast(ctx.inputs[0], tf.float32))
    return [tf.cast(y, tf.uint8), tf.cast(scale, ctx.inputs[0].dtype), tf.cast(zero_point, tf.uint8)]
