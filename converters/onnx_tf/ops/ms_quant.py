"""ONNX Runtime's fused integer products (domain com.microsoft), what its graph optimiser makes of
DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul (a model saved after ORT's own optimisation):

- DynamicQuantizeMatMul(A, B, b_scale, b_zero_point?, bias?): A quantised to uint8 over its own range, as
  DynamicQuantizeLinear does, then (A_q - a_zp)(B - b_zp) * (a_scale * b_scale) + bias.
- MatMulIntegerToFloat(A, B, a_scale, b_scale, a_zero_point?, b_zero_point?, bias?): the same product of two
  integer inputs.

b_scale and b_zero_point are per tensor or per column of B. The integer sums are computed in float32 where
``exact_in_float32`` proves them exact (TFLite then runs float kernels), else in int32.
"""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.ops._common import exact_in_float32
from bridge_converters.onnx_tf.ops.linalg import np_matmul
from bridge_converters.onnx_tf.ops.ms_activation import MS
from bridge_converters.onnx_tf.ops.quant import dynamic_uint8
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []

_CODE_SPAN = 255  # |q - zero_point| of a uint8 code


def _scaled_product(ctx: Any, a: Any, b_zp: int, scale: Any, bias: int, exact: bool) -> Any:
    """(a @ (B - b_zp)) * scale (+ bias) in float32; ``a`` already has its zero point removed."""
    import tensorflow as tf

    work = tf.float32 if exact else tf.int32
    b = tf.cast(ctx.inputs[1], work)
    if ctx.has_input(b_zp):
        b = b - tf.cast(ctx.inputs[b_zp], work)  # scalar or per column: broadcasts over B's last axis
    y = tf.cast(np_matmul(tf.cast(a, work), b), tf.float32) * scale
    return y + tf.cast(ctx.inputs[bias], tf.float32) if ctx.has_input(bias) else y


@onnx_op("DynamicQuantizeMatMul", since=1, domain=MS)
def dynamic_quantize_matmul(ctx: Any) -> Any:
    import tensorflow as tf

    q, a_scale, a_zp = dynamic_uint8(tf.cast(ctx.inputs[0], tf.float32))
    exact = exact_in_float32(ctx, 0, None, 1, 3, -1, data_span=_CODE_SPAN)
    return _scaled_product(ctx, q - a_zp, 3, a_scale * tf.cast(ctx.inputs[2], tf.float32), 4, exact)


@onnx_op("MatMulIntegerToFloat", since=1, domain=MS)
def matmul_integer_to_float(ctx: Any) -> Any:
    import tensorflow as tf

    exact = exact_in_float32(ctx, 0, 4, 1, 5, -1)
    work = tf.float32 if exact else tf.int32
    a = tf.cast(ctx.inputs[0], work)
    if ctx.has_input(4):
        a = a - tf.cast(ctx.inputs[4], work)
    scale = tf.cast(ctx.inputs[2], tf.float32) * tf.cast(ctx.inputs[3], tf.float32)
    return _scaled_product(ctx, a, 5, scale, 6, exact)
