"""Tensor creation and identity: Constant, Identity, Cast."""

from __future__ import annotations

from typing import Any

from converters.onnx_tf.dtypes import tf_dtype
from converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


@onnx_op("Constant", since=1)
def constant(ctx: Any) -> Any:
    import numpy as np
    import tensorflow as tf

    attrs = ctx.attrs
    if "value" in attrs:
        value = attrs["value"]
    elif "value_float" in attrs:
        value = np.array(attrs["value_float"], dtype=np.float32)
    elif "value_floats" in attrs:
        value = np.array(attrs["value_floats"], dtype=np.float32)
    elif "value_int" in attrs:
        value = np.array(attrs["value_int"], dtype=np.int64)
    elif "value_ints" in attrs:
        value = np.array(attrs["value_ints"], dtype=np.int64)
    elif "value_string" in attrs:
        value = np.array(attrs["value_string"], dtype=object)
    elif "value_strings" in attrs:
        value = np.array(attrs["value_strings"], dtype=object)
    else:
        raise ctx.unsupported("sparse_value constants are not supported")
    ctx.walker.static[ctx.node.output[0]] = np.asarray(value)
    return tf.constant(value)


@onnx_op("Identity", since=1)
def identity(ctx: Any) -> Any:
    import tensorflow as tf

    return tf.identity(ctx.inputs[0])


@onnx_op("Cast", since=6)
def cast(ctx: Any) -> Any:
    import tensorflow as tf

    return tf.cast(ctx.inputs[0], tf_dtype(ctx.attr("to")))
