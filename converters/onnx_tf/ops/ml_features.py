"""Feature transforms of the ai.onnx.ml domain: Imputer, OneHotEncoder, FeatureVectorizer, CategoryMapper,
and ZipMap.

ZipMap turns class scores into a sequence of maps (one {label: probability} per row), which a TF
signature cannot carry: it converts to the dense probability tensor itself, columns in the order of its
class labels. ``zipmap_outputs`` names such graph outputs with their labels (the SavedModel's metadata
records them), and the ONNX Runtime runner densifies ORT's list of dicts in the same label order, so
parity is still checked value by value.
"""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.ops._ml_common import ML
from bridge_converters.onnx_tf.ops.ml import lookup
from bridge_converters.onnx_tf.registry import onnx_op

__all__ = ["zipmap_outputs"]


def zipmap_outputs(model: Any) -> dict[str, list[Any]]:
    """Graph outputs made by a ZipMap node, with its class labels in column order."""
    import onnx

    out: dict[str, list[Any]] = {}
    outputs = {o.name for o in model.graph.output}
    for node in model.graph.node:
        if node.op_type == "ZipMap" and node.domain == ML and node.output[0] in outputs:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            labels = attrs.get("classlabels_int64s")
            if labels is None:
                labels = [s.decode() if isinstance(s, bytes) else s for s in attrs.get("classlabels_strings", [])]
            out[node.output[0]] = list(labels)
    return out


@onnx_op("ZipMap", since=1, domain=ML)
def zipmap(ctx: Any) -> Any:
    """The probabilities themselves, [N, classes] (see the module docstring)."""
    import tensorflow as tf

    x = ctx.inputs[0]
    return tf.identity(x[None, :] if x.shape.rank == 1 else x)


@onnx_op("Imputer", since=1, domain=ML)
def imputer(ctx: Any) -> Any:
    """Replace ``replaced_value_*`` (NaN by default, for floats) with the per-feature imputed values."""
    import numpy as np
    import tensorflow as tf

    x = ctx.inputs[0]
    if x.dtype.is_floating:
        values = np.asarray(ctx.attr("imputed_value_floats", []), x.dtype.as_numpy_dtype)
        target = float(ctx.attr("replaced_value_float", 0.0))
        hit = tf.math.is_nan(x) if np.isnan(target) else tf.equal(x, tf.cast(target, x.dtype))
    else:
        values = np.asarray(ctx.attr("imputed_value_int64s", []), x.dtype.as_numpy_dtype)
        hit = tf.equal(x, tf.cast(int(ctx.attr("replaced_value_int64", 0)), x.dtype))
    if values.size not in (1, x.shape[-1]):
        raise ctx.unsupported(f"{values.size} imputed values for {x.shape[-1]} features")
    return tf.where(hit, tf.broadcast_to(tf.constant(values), tf.shape(x)), x)


@onnx_op("OneHotEncoder", since=1, domain=ML)
def one_hot_encoder(ctx: Any) -> Any:
    """Input shape + [categories], 1.0 where the value is that category. Unknown values give zeros
    (``zeros=1``); with ``zeros=0`` ORT fails on them instead, which a converted graph cannot do."""
    import numpy as np
    import tensorflow as tf

    x = ctx.inputs[0]
    ints, strings = ctx.attr("cats_int64s"), ctx.attr("cats_strings")
    if not int(ctx.attr("zeros", 1)):
        raise ctx.unsupported("zeros=0 (fail on an unknown category)")
    if strings is not None:
        cats = np.array([s.encode() for s in strings], dtype=object)
        index = lookup(ctx, x, cats, np.arange(len(cats), dtype=np.int64), np.int64(-1))
    else:
        cats = np.asarray(ints, np.int64)
        if x.dtype.is_floating:  # ORT truncates float inputs to the integer category
            x = tf.cast(x, tf.int64)
        index = lookup(ctx, tf.cast(x, tf.int64), cats, np.arange(len(cats), dtype=np.int64), np.int64(-1))
    return tf.one_hot(index, len(cats), dtype=tf.float32)


@onnx_op("FeatureVectorizer", since=1, domain=ML)
def feature_vectorizer(ctx: Any) -> Any:
    """The inputs side by side as float32 [N, sum(inputdimensions)]; each cut or zero-padded to its size."""
    import tensorflow as tf

    dims = [int(d) for d in ctx.attr("inputdimensions", [])]
    if len(dims) != len(ctx.inputs):
        raise ctx.unsupported("inputdimensions must list one size per input")
    parts = []
    for x, d in zip(ctx.inputs, dims):
        x = tf.cast(x, tf.float32)
        x = x[:, None] if x.shape.rank == 1 else tf.reshape(x, tf.stack([tf.shape(x)[0], -1]))
        x = x[:, :d]
        parts.append(tf.pad(x, [[0, 0], [0, tf.maximum(d - tf.shape(x)[1], 0)]]))
    return tf.concat(parts, axis=1)


@onnx_op("CategoryMapper", since=1, domain=ML)
def category_mapper(ctx: Any) -> Any:
    """cats_strings[i] <-> cats_int64s[i], in the direction of the input's type."""
    import numpy as np
    import tensorflow as tf

    strings = np.array([s.encode() for s in ctx.attr("cats_strings", [])], dtype=object)
    ints = np.asarray(ctx.attr("cats_int64s", []), np.int64)
    x = ctx.inputs[0]
    if x.dtype == tf.string:
        return lookup(ctx, x, strings, ints, np.int64(ctx.attr("default_int64", -1)))
    default = np.asarray(ctx.attr("default_string", "_Unused").encode(), dtype=object)
    return lookup(ctx, tf.cast(x, tf.int64), ints, strings, default)
