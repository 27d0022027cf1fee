"""Classic-ML ops from the ai.onnx.ml domain: LabelEncoder, ArrayFeatureExtractor, Binarizer.

(Tree ensembles live in ``ml_trees.py``, linear models and SVMs in ``ml_linear.py``, feature transforms and
ZipMap in ``ml_features.py``.)

Everything a model stores in attributes (key tables, tree structure) is turned into constant tables at
conversion time; the data input may be dynamic. Lookups avoid TF hash-table resources so the SavedModel
stays a plain function: numeric keys use a sorted table and ``tf.searchsorted``, string keys their 63-bit
farmhash (``to_hash_bucket_fast``) checked against the key string itself, so hash collisions cannot match.
"""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.registry import onnx_op

__all__ = ["lookup"]

_ML = "ai.onnx.ml"


# -- LabelEncoder -------------------------------------------------------------------------------------------
def lookup(ctx: Any, x: Any, keys: Any, values: Any, default: Any) -> Any:
    """``values[i]`` where ``x == keys[i]``, else ``default``; keys/values/default are numpy arrays."""
    import numpy as np
    import tensorflow as tf

    values = np.asarray(values)
    if keys.size == 0:
        return tf.fill(tf.shape(x), tf.constant(default, dtype=tf.as_dtype(values.dtype)))
    if x.dtype == tf.string:
        keys = np.array([k if isinstance(k, bytes) else str(k).encode() for k in keys.ravel()], dtype=object)
        x_code = tf.strings.to_hash_bucket_fast(x, 2**63 - 1)
        with tf.init_scope():  # hash the static keys eagerly, also while tracing
            key_code = tf.strings.to_hash_bucket_fast(tf.constant(keys), 2**63 - 1).numpy()
        if len(np.unique(key_code)) != len(keys):
            raise ctx.unsupported("two string keys share a hash code")
    else:
        keys = keys.ravel().astype(x.dtype.as_numpy_dtype)
        x_code, key_code = x, keys
    order = np.argsort(key_code, kind="stable")
    sorted_code = key_code[order]
    flat = tf.reshape(x_code, [-1])
    pos = tf.searchsorted(tf.constant(sorted_code), flat, side="left", out_type=tf.int64)
    pos = tf.minimum(pos, len(keys) - 1)
    # Match on the key itself, not only its hash code.
    found = tf.equal(tf.gather(tf.constant(keys[order]), pos), tf.reshape(x, [-1]))
    out = tf.where(found, tf.gather(tf.constant(values.ravel()[order]), pos), tf.constant(default, values.dtype))
    return tf.reshape(out, tf.shape(x))


def _dedupe(keys: Any, values: Any) -> tuple[Any, Any]:
    """Keep the last value of a repeated key, like ``dict(zip(keys, values))`` in the reference."""
    import numpy as np

    table: dict[Any, int] = {}
    for i, k in enumerate(keys.ravel().tolist()):
        table[k] = i
    idx = np.array(sorted(table.values()), dtype=np.int64)
    return keys.ravel()[idx], np.asarray(values).ravel()[idx]


def _label_table(ctx: Any) -> tuple[Any, Any, Any]:
    import numpy as np

    keys = values = None
    for name, dtype in (("keys_floats", np.float32), ("keys_int64s", np.int64), ("keys_strings", object)):
        if ctx.attr(name) is not None:
            keys = np.array(ctx.attr(name), dtype=dtype)
    if ctx.attr("keys_tensor") is not None:
        keys = np.asarray(ctx.attr("keys_tensor"))
    default: Any = None
    for name, dtype, dname in (("values_floats", np.float32, "default_float"),
                               ("values_int64s", np.int64, "default_int64"),
                               ("values_strings", object, "default_string")):
        if ctx.attr(name) is not None:
            values = np.array(ctx.attr(name), dtype=dtype)
            default = ctx.attr(dname, {"default_float": -0.0, "default_int64": -1,
                                       "default_string": "_Unused"}[dname])
    if ctx.attr("values_tensor") is not None:
        values = np.asarray(ctx.attr("values_tensor"))
        if ctx.attr("default_tensor") is not None:
            default = np.asarray(ctx.attr("default_tensor")).ravel()[0]
        else:
            default = "_Unused" if values.dtype == object else (-0.0 if values.dtype.kind == "f" else -1)
    if keys is None or values is None:
        raise ctx.unsupported("needs one keys_* and one values_* attribute")
    if values.dtype == object:
        values = np.array([v if isinstance(v, bytes) else str(v).encode() for v in values.ravel()], dtype=object)
        default = default if isinstance(default, bytes) else str(default).encode()
    keys, values = _dedupe(keys, values)
    return keys, values, np.asarray(default, dtype=values.dtype)


@onnx_op("LabelEncoder", since=1, domain=_ML)
def label_encoder_v1(ctx: Any) -> Any:
    """classes_strings maps string <-> its index."""
    import numpy as np
    import tensorflow as tf

    classes = np.array([c.encode() for c in ctx.attr("classes_strings", [])], dtype=object)
    x = ctx.inputs[0]
    index = np.arange(len(classes), dtype=np.int64)
    if x.dtype == tf.string:
        keys, values = _dedupe(classes, index)
        return lookup(ctx, x, keys, values, np.int64(ctx.attr("default_int64", -1)))
    default = ctx.attr("default_string", "_Unused").encode()
    return lookup(ctx, x, index, classes, np.asarray(default, dtype=object))


@onnx_op("LabelEncoder", since=2, domain=_ML)
def label_encoder(ctx: Any) -> Any:
    keys, values, default = _label_table(ctx)
    return lookup(ctx, ctx.inputs[0], keys, values, default)


# -- ArrayFeatureExtractor, Binarizer -----------------------------------------------------------------------
@onnx_op("ArrayFeatureExtractor", since=1, domain=_ML)
def array_feature_extractor(ctx: Any) -> Any:
    import tensorflow as tf

    x, idx = ctx.inputs[0], tf.reshape(tf.cast(ctx.inputs[1], tf.int64), [-1])
    out = tf.gather(x, idx, axis=-1)
    if x.shape.rank == 1:  # a vector is treated as one row, like onnxruntime
        return tf.reshape(out, [1, -1])
    return out


@onnx_op("Binarizer", since=1, domain=_ML)
def binarizer(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    return tf.cast(x > tf.constant(float(ctx.attr("threshold", 0.0)), x.dtype), x.dtype)
