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
from bridge_converters.onnx_tf.ops.linalg import centred_operand, int_operands, np_matmul
from bridge_converters.onnx_tf.ops.ms_activation import MS
from bridge_converters.onnx_tf.ops.quant import dynamic_uint8
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []

_CODE_SPAN = 255  # |q - zero_point| of a uint8 code


def _scaled(ctx: Any, product: Any, scale: Any, bias: int) -> Any:
    """The integer sums ``product`` times ``scale`` (+ bias), in float32."""
    import tensorflow as tf

    y = tf.cast(product, tf.float32) * scale
    return y + tf.cast(ctx.inputs[bias], tf.float32) if ctx.has_input(bias) else y


@onnx_op("DynamicQuantizeMatMul", since=1, domain=MS)
def dynamic_quantize_matmul(ctx: Any) -> Any:
    import tensorflow as tf

    q, a_scale, a_zp = dynamic_uint8(tf.cast(ctx.inputs[0], tf.float32))
    work = tf.float32 if exact_in_float32(ctx, 0, None, 1, 3, -1, data_span=_CODE_SPAN) else tf.int32
    product = np_matmul(tf.cast(q - a_zp, work), centred_operand(ctx, 1, 3, work, 1))
    return _scaled(ctx, product, a_scale * tf.cast(ctx.inputs[2], tf.float32), 4)


@onnx_op("MatMulIntegerToFloat", since=1, domain=MS)
def matmul_integer_to_float(ctx: Any) -> Any:
    import tensorflow as tf

    a, b, _ = int_operands(ctx, 4, 1, 5)
    return _scaled(ctx, np_matmul(a, b), tf.cast(ctx.inputs[2], tf.float32) * tf.cast(ctx.inputs[3], tf.float32), 6)
