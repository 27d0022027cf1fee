"""Elementwise arithmetic and unary math (numpy-style broadcasting maps onto TF's)."""

from __future__ import annotations

from typing import Any

from converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


def _tf() -> Any:
    import tensorflow as tf

    return tf


@onnx_op("Add", since=7)
def add(ctx: Any) -> Any:
    return _tf().add(ctx.inputs[0], ctx.inputs[1])


@onnx_op("Sub", since=7)
def sub(ctx: Any) -> Any:
    return _tf().subtract(ctx.inputs[0], ctx.inputs[1])


@onnx_op("Mul", since=7)
def mul(ctx: Any) -> Any:
    return _tf().multiply(ctx.inputs[0], ctx.inputs[1])


@onnx_op("Div", since=7)
def div(ctx: Any) -> Any:
    tf = _tf()
    a, b = ctx.inputs
    if a.dtype.is_integer:
        # ONNX integer division truncates toward zero, like C.
        return tf.cast(tf.truncatediv(a, b), a.dtype)
    return tf.divide(a, b)


@onnx_op("Relu", since=6)
def relu(ctx: Any) -> Any:
    return _tf().nn.relu(ctx.inputs[0])


@onnx_op("Sigmoid", since=6)
def sigmoid(ctx: Any) -> Any:
    return _tf().math.sigmoid(ctx.inputs[0])


@onnx_op("Tanh", since=6)
def tanh(ctx: Any) -> Any:
    return _tf().math.tanh(ctx.inputs[0])
