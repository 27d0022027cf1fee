"""Optional ops on plain tensors: OptionalHasElement, OptionalGetElement.

The backend has no optional values (a TF signature takes only tensors), so an optional is either a tensor
(present) or a missing input (absent). Optional/sequence typed graph inputs are out of reach; those models
fail earlier with a clear message.
"""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


@onnx_op("OptionalHasElement", since=15)
def optional_has_element(ctx: Any) -> Any:
    import tensorflow as tf

    return tf.constant(ctx.has_input(0))


@onnx_op("OptionalGetElement", since=15)
def optional_get_element(ctx: Any) -> Any:
    import tensorflow as tf

    if not ctx.has_input(0):
        raise ctx.unsupported("the optional input is empty")
    x = ctx.inputs[0]
    if not tf.is_tensor(x):
        raise ctx.unsupported("only tensor inputs are supported, not sequences")
    return tf.identity(x)
