"""Tensor creation, identity and casting: Constant, ConstantOfShape, EyeLike, Identity, Dropout, Cast,
CastLike, BitCast."""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.dtypes import tf_dtype
from bridge_converters.onnx_tf.passes.layout import ELEMENTWISE
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


def _tf() -> Any:
    import tensorflow as tf

    return tf


# -- creation ---------------------------------------------------------------------------------------------
def _dense_from_sparse(sparse: Any) -> Any:
    """A SparseTensorProto as a dense numpy array (indices are linear [NNZ] or per-dimension [NNZ, rank])."""
    import numpy as np
    from onnx import numpy_helper

    values = numpy_helper.to_array(sparse.values)
    indices = numpy_helper.to_array(sparse.indices).astype(np.int64)
    dense = np.zeros(tuple(sparse.dims), dtype=values.dtype)
    if indices.ndim == 1:
        dense.reshape(-1)[indices] = values
    else:
        dense[tuple(indices.T)] = values
    return dense


@onnx_op("Constant", since=1)
def constant(ctx: Any) -> Any:
    import numpy as np

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
    elif "sparse_value" in attrs:
        value = _dense_from_sparse(attrs["sparse_value"])
    else:
        raise ctx.unsupported("a Constant needs one value* attribute")
    ctx.scope.record_static(ctx.node.output[0], np.asarray(value))
    return _tf().constant(value)


@onnx_op("ConstantOfShape", since=9)
def constant_of_shape(ctx: Any) -> Any:
    import numpy as np

    tf = _tf()
    value = ctx.attr("value")
    value = np.zeros([], np.float32) if value is None else np.asarray(value).reshape(-1)[0]
    shape = ctx.const(0)
    shape = [int(d) for d in shape] if shape is not None else tf.cast(ctx.inputs[0], tf.int64)
    return tf.fill(shape, tf.constant(value))


@onnx_op("EyeLike", since=9)
def eye_like(ctx: Any) -> Any:
    tf = _tf()
    x = ctx.inputs[0]
    dtype = tf_dtype(ctx.attr("dtype")) if ctx.attr("dtype") is not None else x.dtype
    shape = tf.shape(x)
    rows = tf.range(shape[0])[:, None]
    cols = tf.range(shape[1])[None, :]
    return tf.cast(tf.equal(cols - rows, ctx.attr("k", 0)), dtype)


@onnx_op("Identity", since=1, layout=ELEMENTWISE)
def identity(ctx: Any) -> Any:
    return _tf().identity(ctx.inputs[0])


# -- Dropout ----------------------------------------------------------------------------------------------
@onnx_op("Dropout", since=1, layout=ELEMENTWISE)
def dropout_v1(ctx: Any) -> Any:
    """Opsets 1-10 carry no training switch we can honour at inference: Y = X, and the mask keeps all.
    The mask has X's type before opset 10 and is bool from 10."""
    tf = _tf()
    x = ctx.inputs[0]
    mask_dtype = tf.bool if ctx.opset >= 10 else x.dtype
    return [tf.identity(x), tf.ones_like(x, dtype=mask_dtype)][: max(1, ctx.num_outputs)]


@onnx_op("Dropout", since=12, layout=ELEMENTWISE)
def dropout_v12(ctx: Any) -> Any:
    """``training_mode`` (default false) switches real dropout on: keep with probability 1 - ratio, scale
    kept values by 1 / (1 - ratio). Random draws cannot match another runtime's generator."""
    tf = _tf()
    x = ctx.inputs[0]
    training = ctx.const(2) if ctx.has_input(2) else False
    ratio = ctx.const(1) if ctx.has_input(1) else 0.5
    if (training is not None and not bool(training)) or (ratio is not None and float(ratio) == 0.0):
        return [tf.identity(x), tf.ones_like(x, dtype=tf.bool)][: max(1, ctx.num_outputs)]
    ratio_t = tf.cast(ctx.input(1, tf.constant(0.5)), tf.float32)
    train_t = tf.cast(ctx.input(2, tf.constant(False)), tf.bool)
    seed = ctx.attr("seed")
    draws = tf.random.uniform(tf.shape(x), seed=seed, dtype=tf.float32)
    keep = tf.logical_or(tf.logical_not(train_t), draws >= ratio_t)
    scale = tf.where(train_t, 1.0 / (1.0 - ratio_t), 1.0)
    y = tf.where(keep, x * tf.cast(scale, x.dtype), tf.zeros_like(x))
    return [y, keep][: max(1, ctx.num_outputs)]


# -- casts ------------------------------------------------------------------------------------------------
def _cast(ctx: Any, x: Any, to: Any) -> Any:
    tf = _tf()
    if x.dtype == to:
        return tf.identity(x)
    if to == tf.string:
        if x.dtype.is_integer:
            return tf.strings.as_string(x)
        # TF prints floats with %g (6 digits) or its own shortest form, neither ONNX's plain representation.
        raise ctx.unsupported(f"casting {x.dtype.name} to string: TF cannot reproduce ONNX's number formatting")
    if x.dtype == tf.string:
        if to == tf.bool:
            raise ctx.unsupported("casting string to bool is undefined in ONNX")
        if to in (tf.float32, tf.float64, tf.int32, tf.int64):
            return tf.strings.to_number(x, to)  # accepts INF/-INF/NaN case-insensitively, like ONNX
        parsed = tf.strings.to_number(x, tf.float64 if to.is_floating else tf.int64)
        return tf.cast(parsed, to)
    return tf.cast(x, to)


@onnx_op("Cast", since=1, layout=ELEMENTWISE)
def cast(ctx: Any) -> Any:
    to = ctx.attr("to")
    if isinstance(to, str):  # Cast-1 names the type ("FLOAT") instead of its enum value
        import onnx

        to = onnx.TensorProto.DataType.Value(to.upper())
    return _cast(ctx, ctx.inputs[0], tf_dtype(to))


@onnx_op("CastLike", since=15)
def cast_like(ctx: Any) -> Any:
    return _cast(ctx, ctx.inputs[0], ctx.inputs[1].dtype)


@onnx_op("BitCast", since=26)
def bit_cast(ctx: Any) -> Any:
    tf = _tf()
    x = ctx.inputs[0]
    to = tf_dtype(ctx.attr("to"))
    width = 1 if x.dtype == tf.bool else x.dtype.size
    if width != (1 if to == tf.bool else to.size):
        raise ctx.unsupported(f"{x.dtype.name} and {to.name} differ in bit width")
    if x.dtype == to:
        return tf.identity(x)
    # tf.bitcast has no bool kernels; a bool byte is 0 or 1, so its bits are those of the 0/1 integer.
    if x.dtype == tf.bool:
        return tf.cast(x, to)
    if to == tf.bool:
        return tf.not_equal(x, tf.zeros_like(x))
    return tf.bitcast(x, to)
