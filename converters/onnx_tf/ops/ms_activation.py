"""ONNX Runtime contrib activations (domain com.microsoft): Gelu, BiasGelu, FastGelu, QuickGelu, BiasAdd,
BiasSplitGelu, BiasDropout.

ONNX Runtime's transformer optimiser and its offline graph optimisation fuse ``Add`` + ``Gelu`` patterns
into these; the formulas follow ContribOperators.md, and the CPU kernels where they exist (BiasAdd and
BiasSplitGelu run on CUDA only, so their tests check the documented formula).
"""

from __future__ import annotations

import math
from typing import Any

from bridge_converters.onnx_tf.ops._common import as_bias_add, on_product_rows
from bridge_converters.onnx_tf.passes.layout import ELEMENTWISE
from bridge_converters.onnx_tf.registry import onnx_op

__all__ = ["MS", "gelu_erf"]

MS = "com.microsoft"


def gelu_erf(x: Any) -> Any:
    """0.5 * x * (1 + erf(x / sqrt(2))), the exact GELU."""
    import tensorflow as tf

    return tf.nn.gelu(x, approximate=False)


def _add_bias(x: Any, bias: Any) -> Any:
    return x if bias is None else x + bias


@onnx_op("Gelu", since=1, domain=MS, layout=ELEMENTWISE)
def gelu(ctx: Any) -> Any:
    return on_product_rows(ctx.inputs[0], gelu_erf)


@onnx_op("BiasGelu", since=1, domain=MS)
def bias_gelu(ctx: Any) -> Any:
    x, bias = ctx.inputs[:2]
    y = as_bias_add(x, bias)
    return on_product_rows(x + bias if y is None else y, gelu_erf)


@onnx_op("FastGelu", since=1, domain=MS)
def fast_gelu(ctx: Any) -> Any:
    """The tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), with an optional bias."""
    import tensorflow as tf

    x = _add_bias(ctx.inputs[0], ctx.input(1))
    c = tf.cast(math.sqrt(2.0 / math.pi), x.dtype)
    return 0.5 * x * (1.0 + tf.tanh(c * (x + tf.cast(0.044715, x.dtype) * x * x * x)))


@onnx_op("QuickGelu", since=1, domain=MS, layout=ELEMENTWISE)
def quick_gelu(ctx: Any) -> Any:
    """x * sigmoid(alpha * x); CLIP's approximation (alpha 1.702)."""
    import tensorflow as tf

    x = ctx.inputs[0]
    return x * tf.sigmoid(tf.cast(float(ctx.attr("alpha", 1.702)), x.dtype) * x)


@onnx_op("BiasAdd", since=1, domain=MS)
def bias_add(ctx: Any) -> Any:
    """X + bias + skip (a diffusion-UNet fusion)."""
    x, bias, skip = ctx.inputs[:3]
    return x + bias + skip


@onnx_op("BiasSplitGelu", since=1, domain=MS)
def bias_split_gelu(ctx: Any) -> Any:
    """(X + bias) split in half on the last axis: left * gelu(right)."""
    import tensorflow as tf

    left, right = tf.split(ctx.inputs[0] + ctx.inputs[1], 2, axis=-1)
    return left * gelu_erf(right)


@onnx_op("BiasDropout", since=1, domain=MS)
def bias_dropout(ctx: Any) -> Any:
    """Dropout(data + bias) + residual. Inference only, as the converted graph is: a training_mode that is
    not a constant false is refused, since random masks cannot be checked for parity."""
    import numpy as np
    import tensorflow as tf

    training = ctx.const(4)
    if ctx.has_input(4) and (training is None or bool(np.asarray(training))):
        raise ctx.unsupported("training_mode must be a constant false (inference)")
    y = _add_bias(ctx.inputs[0] + ctx.inputs[1], ctx.input(2))
    return [y, tf.ones(tf.shape(y), tf.bool)]
