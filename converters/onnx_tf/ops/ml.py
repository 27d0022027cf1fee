"""Classic-ML ops from the ai.onnx.ml domain: LabelEncoder, ArrayFeatureExtractor, Binarizer, TreeEnsemble.

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


# -- TreeEnsemble -------------------------------------------------------------------------------------------
_MEMBER = 6  # node modes: BRANCH_LEQ, LT, GTE, GT, EQ, NEQ, MEMBER = 0..6


def _tree_depth(roots: list[int], true_ids: Any, false_ids: Any, true_leaf: Any, false_leaf: Any,
                root_leaf: Any) -> int:
    """The largest number of branch nodes on a root-to-leaf path."""
    depth: dict[int, int] = {}

    def visit(i: int, seen: tuple[int, ...]) -> int:
        if i in depth:
            return depth[i]
        if i in seen:
            raise ValueError("TreeEnsemble: the node graph has a cycle")
        below = [0 if leaf else visit(int(child), (*seen, i))
                 for child, leaf in ((true_ids[i], true_leaf[i]), (false_ids[i], false_leaf[i]))]
        depth[i] = 1 + max(below)
        return depth[i]

    return max([0] + [visit(r, ()) for r, leaf in zip(roots, root_leaf) if not leaf])


def _post_transform(y: Any, kind: int) -> Any:
    """ONNX-ML post transforms over the target axis, as onnxruntime computes them."""
    import math

    import tensorflow as tf

    if kind == 0:
        return y
    if kind == 1:
        return tf.nn.softmax(y, axis=-1)
    if kind == 2:
        return tf.sigmoid(y)
    if kind == 3:  # softmax over the non-zero entries; zeros stay zero
        nonzero = tf.abs(y) > 1e-7
        v_max = tf.reduce_max(y, axis=-1, keepdims=True)
        e = tf.where(nonzero, tf.exp(y - v_max), y * tf.exp(-v_max))
        s = tf.reduce_sum(e, axis=-1, keepdims=True)
        return tf.where(s == 0, tf.constant(0.5, y.dtype), e / tf.where(s == 0, tf.ones_like(s), s))
    if kind == 4:  # probit with the same erf-inverse approximation as the reference and onnxruntime
        x = tf.cast(y, tf.float64) * 2 - 1  # float64: v * v - log / 0.147 cancels badly near 0.5
        sgn = tf.where(x < 0, tf.constant(-1.0, tf.float64), tf.constant(1.0, tf.float64))
        w = (1.0 - x) * (1.0 + x)
        log = tf.math.log(tf.where(w == 0, tf.ones_like(w), w))
        v = 2.0 / (math.pi * 0.147) + 0.5 * log
        v3 = -v + tf.sqrt(v * v - log / 0.147)
        return tf.cast(tf.where(w == 0, tf.zeros_like(x), 1.41421356 * sgn * tf.sqrt(v3)), y.dtype)
    raise ValueError(f"unknown post_transform {kind}")  # checked by the caller


@onnx_op("TreeEnsemble", since=5, domain=_ML)
def tree_ensemble(ctx: Any) -> Any:
    """Every (sample, tree) pair walks its tree in lockstep for ``depth`` steps of gathers; a pair that
    reached a leaf stays there. Comparisons run in float64, where X and the splits are both exact."""
    import numpy as np
    import tensorflow as tf

    def ints(name: str, default: Any = None) -> Any:
        v = ctx.attr(name, default)
        return None if v is None else np.asarray(v).astype(np.int64).ravel()

    modes, feats = ints("nodes_modes"), ints("nodes_featureids")
    true_ids, false_ids = ints("nodes_truenodeids"), ints("nodes_falsenodeids")
    true_leaf, false_leaf = ints("nodes_trueleafs").astype(bool), ints("nodes_falseleafs").astype(bool)
    roots = [int(r) for r in ints("tree_roots")]
    splits = np.asarray(ctx.attr("nodes_splits"), dtype=np.float64).ravel()
    leaf_w = np.asarray(ctx.attr("leaf_weights")).ravel()
    leaf_t = ints("leaf_targetids")
    n_targets = int(ctx.attr("n_targets"))
    agg, post = int(ctx.attr("aggregate_function", 1)), int(ctx.attr("post_transform", 0))
    if agg not in (0, 1, 2, 3) or post not in (0, 1, 2, 3, 4):
        raise ctx.unsupported(f"aggregate_function {agg} / post_transform {post}")
    missing = ints("nodes_missing_value_tracks_true")
    missing = np.zeros(len(modes), bool) if missing is None else missing.astype(bool)
    # A root is a leaf only when both branches point at the same leaf.
    root_leaf = [bool(true_leaf[r] and false_leaf[r] and true_ids[r] == false_ids[r]) for r in roots]
    try:
        depth = _tree_depth(roots, true_ids, false_ids, true_leaf, false_leaf, root_leaf)
    except ValueError as e:
        raise ctx.unsupported(str(e)) from e

    # Set members per MEMBER node in node-index order (the reference consumes them in depth-first order,
    # the same for trees numbered depth-first), padded with NaN, which never compares equal.
    groups: list[list[float]] = []
    members = ctx.attr("membership_values")
    if members is not None:
        cur: list[float] = []
        for v in np.asarray(members, dtype=np.float64).ravel():
            if np.isnan(v):
                groups.append(cur)
                cur = []
            else:
                cur.append(float(v))
    member_ids = np.nonzero(modes == _MEMBER)[0]
    if len(groups) < len(member_ids):
        raise ctx.unsupported("membership_values lists fewer sets than there are MEMBER nodes")
    width = max([1] + [len(g) for g in groups])
    table = np.full((len(modes), width), np.nan)
    for node, group in zip(member_ids, groups):
        table[node, :len(group)] = group

    x = ctx.inputs[0]
    x64 = tf.cast(x, tf.float64)
    n_trees = len(roots)
    batch = tf.shape(x)[0]
    node = tf.tile(tf.constant(roots, tf.int64)[None, :], [batch, 1])  # [B, T]
    is_leaf = tf.tile(tf.constant(root_leaf)[None, :], [batch, 1])
    c = {k: tf.constant(v) for k, v in dict(modes=modes, feats=feats, splits=splits, true_ids=true_ids,
                                              false_ids=false_ids, true_leaf=true_leaf, false_leaf=false_leaf,
                                              missing=missing, table=table).items()}

    def step(node: Any, is_leaf: Any) -> tuple[Any, Any]:
        safe = tf.where(is_leaf, tf.zeros_like(node), node)
        value = tf.gather(x64, tf.gather(c["feats"], safe), batch_dims=1)
        split = tf.gather(c["splits"], safe)
        mode = tf.gather(c["modes"], safe)
        member = tf.reduce_any(value[..., None] == tf.gather(c["table"], safe), axis=-1)
        outcomes = [value <= split, value < split, value >= split, value > split, value == split,
                    value != split, member]
        cond = tf.zeros_like(is_leaf)
        for k, outcome in enumerate(outcomes):
            cond = tf.where(mode == k, outcome, cond)
        cond = cond | (tf.gather(c["missing"], safe) & tf.math.is_nan(value))
        nxt = tf.where(cond, tf.gather(c["true_ids"], safe), tf.gather(c["false_ids"], safe))
        nxt_leaf = tf.where(cond, tf.gather(c["true_leaf"], safe), tf.gather(c["false_leaf"], safe))
        return tf.where(is_leaf, node, nxt), is_leaf | nxt_leaf

    if depth:
        node, is_leaf = tf.while_loop(lambda i, n, lf: i < depth, lambda i, n, lf: (i + 1, *step(n, lf)),
                                      (tf.constant(0), node, is_leaf))[1:]
    weights = tf.cast(tf.gather(tf.constant(leaf_w), node), x.dtype)  # [B, T]
    if agg == 0:
        weights = weights / tf.constant(n_trees, x.dtype)
    seg = tf.reshape(tf.range(tf.cast(batch, tf.int64))[:, None] * n_targets + tf.gather(tf.constant(leaf_t), node),
                     [-1])
    n_seg = tf.cast(batch, tf.int64) * n_targets
    # Targets no leaf reached keep the identity: 0 for sums, the dtype's max / lowest for MIN / MAX.
    reduce = {0: tf.math.unsorted_segment_sum, 1: tf.math.unsorted_segment_sum,
              2: tf.math.unsorted_segment_min, 3: tf.math.unsorted_segment_max}[agg]
    y = tf.reshape(reduce(tf.reshape(weights, [-1]), seg, n_seg), tf.stack([batch, n_targets]))
    return _post_transform(y, post)
