"""ONNX Runtime's dynamically quantized LSTM (``com.microsoft`` DynamicQuantizeLSTM), the node ORT's
``quantize_dynamic`` writes for every LSTM.

W (D, I, 4H) and R (D, H, 4H) hold int8 or uint8 codes with a scale and zero point per direction or per
gate column. As ONNX Runtime computes it, each product quantises its float operand to uint8 over the
operand's own range (the whole input sequence at once; the hidden state at every step), multiplies the
integer codes, and scales the integer sums by the two scales' product. The codes are small integers, so
the float32 products here are exact and the result matches ORT's up to float rounding of the sums.
"""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.ops.ms_activation import MS
from bridge_converters.onnx_tf.ops.quant import dynamic_uint8
from bridge_converters.onnx_tf.ops.rnn import LSTM_ACTIVATIONS, Recurrent, lstm_layer
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


def _centred(codes: Any, zero_point: Any) -> Any:
    """Integer codes minus their zero point (one per direction, or per column), as float32."""
    import tensorflow as tf

    return tf.cast(codes, tf.float32) - tf.cast(zero_point, tf.float32)


def _product(a: Any, codes: Any, scale: Any, equation: str) -> Any:
    """``a`` quantised dynamically, times the weight ``codes`` (zero point removed), rescaled."""
    import tensorflow as tf

    q, a_scale, a_zero = dynamic_uint8(a)
    return tf.einsum(equation, q - a_zero, codes) * (a_scale * scale)


@onnx_op("DynamicQuantizeLSTM", since=1, domain=MS)
def dynamic_quantize_lstm(ctx: Any) -> Any:
    import tensorflow as tf

    if ctx.inputs[0].dtype != tf.float32:
        raise ctx.unsupported(f"DynamicQuantizeLSTM on {ctx.inputs[0].dtype.name} input (ORT takes float32)")
    m = Recurrent(ctx, 4, LSTM_ACTIVATIONS)
    w_scale, w_zero, r_scale, r_zero = (tf.reshape(ctx.inputs[i], [len(m.reverse), -1]) for i in range(8, 12))
    w = [_centred(ctx.inputs[1][d], w_zero[d]) for d in range(len(m.reverse))]
    r = [_centred(ctx.inputs[2][d], r_zero[d]) for d in range(len(m.reverse))]

    def project(d: int, bias: Any) -> Any:
        return _product(m.x, w[d], w_scale[d], "tbi,ig->tbg") + bias

    def recurrence(d: int) -> Any:
        return lambda h: _product(h, r[d], r_scale[d], "bh,hg->bg")

    return lstm_layer(ctx, m, project, recurrence)
