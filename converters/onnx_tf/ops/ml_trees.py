"""Tree ensembles of the ai.onnx.ml domain: TreeEnsemble (opset 5) and the TreeEnsembleClassifier /
TreeEnsembleRegressor it replaces (opsets 1 and 3), on one core: every tree becomes a table of branch nodes
and a table of leaves, and ``walk`` sends each sample down every tree at once.

Scores follow ONNX Runtime's aggregators, including its two-class rules: with weights for one class only
the positive score is that class's sum and the other is derived from it, and the label is decided on it.
"""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.ops._common import float64_kept
from bridge_converters.onnx_tf.ops._ml_common import ML, POST_TRANSFORMS, post_transform
from bridge_converters.onnx_tf.ops._tree_tables import legacy_forest, tree_depth
from bridge_converters.onnx_tf.registry import onnx_op

__all__ = ["walk"]

_MEMBER = 6  # node modes: BRANCH_LEQ, LT, GTE, GT, EQ, NEQ, MEMBER = 0..6

def compares_in_float32(x: Any, *values: Any) -> bool:
    """Whether X and every split value (threshold, set member) compare exactly in float32: X is not float64
    and each value is itself in float32. ONNX Runtime compares such an ensemble in float32."""
    import numpy as np
    import tensorflow as tf

    return x.dtype != tf.float64 and all(
        np.array_equal(np.asarray(v, np.float64).astype(np.float32).astype(np.float64), np.asarray(v, np.float64),
                       equal_nan=True) for v in values)


def score_types(x: Any, *values: Any) -> tuple[Any, Any]:
    """(tf, numpy) dtype the leaf weights add up in: float64 where the walk compares in float64, in TF's forms;
    float32 otherwise. TFLite has no float64 arithmetic: its forms add in float32 (about 1e-7 relative)."""
    import numpy as np
    import tensorflow as tf

    if compares_in_float32(x, *values) or not float64_kept():
        return tf.float32, np.float32
    return tf.float64, np.float64


_INT64_MIN = -(2**63)
_INF_KEY = 0x7FF0000000000000  # the order key of +inf (-inf: its negation); beyond either lies NaN


def _order_keys(values: Any) -> Any:
    """float64 values as int64 keys in the same order: the IEEE bits, with negative numbers' magnitude
    negated (-0.0 and 0.0 both 0). Exact for every double, and TFLite runs it with builtins (BITCAST, MINIMUM,
    SUB, SELECT)."""
    import numpy as np
    import tensorflow as tf

    if not tf.is_tensor(values):
        bits = np.asarray(values, np.float64).view(np.int64)
        return np.where(bits < 0, _INT64_MIN - np.minimum(bits, 0), bits)
    bits = tf.bitcast(tf.cast(values, tf.float64), tf.int64)
    return tf.where(bits < 0, tf.constant(_INT64_MIN, tf.int64) - tf.minimum(bits, 0), bits)


def walk(x: Any, roots: list[int], root_leaf: list[bool], depth: int, tables: dict[str, Any]) -> Any:
    """The leaf each (sample, tree) pair reaches: [B, T] indices into the leaf table.

    ``tables`` holds, per branch node: ``modes`` (BRANCH_LEQ, LT, GTE, GT, EQ, NEQ, MEMBER = 0..6), ``feats``,
    ``splits`` (float64), ``true_ids``/``false_ids`` with ``true_leaf``/``false_leaf`` telling whether a child
    indexes the leaf table or the branch table, ``missing`` (NaN goes the true way) and ``table``, the
    MEMBER sets padded with NaN. All pairs walk in lockstep for ``depth`` steps of gathers; a pair that
    reached a leaf stays there. Comparisons run in float32 where X and every split are exact in it (as ONNX
    Runtime compares), else on int64 order keys of the float64 values: exact, and builtin in TFLite too.
    """
    import numpy as np
    import tensorflow as tf

    in_float32 = compares_in_float32(x, tables["splits"], tables["table"])
    if in_float32:
        tables = {k: (v.astype(np.float32) if k in ("splits", "table") else v) for k, v in tables.items()}
        values = tf.cast(x, tf.float32)
    else:
        tables = {k: (_order_keys(v) if k in ("splits", "table") else v) for k, v in tables.items()}
        values = _order_keys(x)
    batch = tf.shape(x)[0]
    # A tree that is a single leaf starts (and stays) at that leaf.
    start = [int(tables["true_ids"][r]) if leaf else r for r, leaf in zip(roots, root_leaf)]
    node = tf.tile(tf.constant(start, tf.int64)[None, :], [batch, 1])  # [B, T]
    is_leaf = tf.tile(tf.constant(root_leaf, tf.bool)[None, :], [batch, 1])
    c = {k: _constant(v) for k, v in tables.items()}

    def step(node: Any, is_leaf: Any) -> tuple[Any, Any]:
        safe = tf.where(is_leaf, tf.zeros_like(node), node)
        value = tf.gather(values, tf.gather(c["feats"], safe), batch_dims=1)
        split = tf.gather(c["splits"], safe)
        mode = tf.gather(c["modes"], safe)
        member = tf.reduce_any(value[..., None] == tf.gather(c["table"], safe), axis=-1)
        outcomes = [value <= split, value < split, value >= split, value > split, value == split,
                    value != split, member]
        if in_float32:
            nan = tf.math.is_nan(value)
        else:  # keys order NaN beyond the infinities: every comparison but != is false for it, as in IEEE
            nan = (value > _INF_KEY) | (value < -_INF_KEY)
            outcomes = [o if k == 5 else o & ~nan for k, o in enumerate(outcomes)]
            outcomes[5] = outcomes[5] | nan
        cond = tf.zeros_like(is_leaf)
        for k, outcome in enumerate(outcomes):
            cond = tf.where(mode == k, outcome, cond)
        cond = cond | (tf.gather(c["missing"], safe) & nan)
        nxt = tf.where(cond, tf.gather(c["true_ids"], safe), tf.gather(c["false_ids"], safe))
        nxt_leaf = tf.where(cond, tf.gather(c["true_leaf"], safe), tf.gather(c["false_leaf"], safe))
        return tf.where(is_leaf, node, nxt), is_leaf | nxt_leaf

    if depth:
        node = tf.while_loop(lambda i, n, lf: i < depth, lambda i, n, lf: (i + 1, *step(n, lf)),
                             (tf.constant(0), node, is_leaf))[1]
    return node


@onnx_op("TreeEnsemble", since=5, domain=ML)
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
        depth = tree_depth(roots, true_ids, false_ids, true_leaf, false_leaf, root_leaf)
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
    n_trees = len(roots)
    batch = tf.shape(x)[0]
    node = walk(x, roots, root_leaf, depth, dict(modes=modes, feats=feats, splits=splits, true_ids=true_ids,
                                                  false_ids=false_ids, true_leaf=true_leaf, false_leaf=false_leaf,
                                                  missing=missing, table=table))
    score, np_score = score_types(x, splits, table)
    weights = tf.gather(tf.constant(leaf_w.astype(np_score)), node)  # [B, T]
    if agg == 0:
        weights = weights / tf.constant(n_trees, score)
    seg = tf.reshape(tf.range(tf.cast(batch, tf.int64))[:, None] * n_targets + tf.gather(tf.constant(leaf_t), node),
                     [-1])
    n_seg = tf.cast(batch, tf.int64) * n_targets
    # Targets no leaf reached keep the identity: 0 for sums, the dtype's max / lowest for MIN / MAX.
    reduce = {0: tf.math.unsorted_segment_sum, 1: tf.math.unsorted_segment_sum,
              2: tf.math.unsorted_segment_min, 3: tf.math.unsorted_segment_max}[agg]
    y = tf.reshape(reduce(tf.reshape(weights, [-1]), seg, n_seg), tf.stack([batch, n_targets]))
    return tf.cast(post_transform(y, post), x.dtype)


def _constant(value: Any) -> Any:
    """A numpy constant; bool ones through uint8, which TF turns into a tensor proto without a Python loop
    over the elements (it has none for bool: a minute on a 5-million-node ensemble's tables)."""
    import numpy as np
    import tensorflow as tf

    value = np.asarray(value)
    return tf.cast(tf.constant(value.view(np.uint8)), tf.bool) if value.dtype == bool else tf.constant(value)


# -- TreeEnsembleClassifier / TreeEnsembleRegressor (opsets 1 and 3) ----------------------------------------
def _floats(ctx: Any, name: str) -> Any:
    """A float attribute list, or its ``*_as_tensor`` form (opset 3, possibly float64)."""
    import numpy as np

    value = ctx.attr(f"{name}_as_tensor")
    if value is None:
        value = ctx.attr(name)
    return None if value is None else np.asarray(value, dtype=np.float64).ravel()


_LEGACY_INTS = ("nodes_treeids", "nodes_nodeids", "nodes_modes", "nodes_truenodeids", "nodes_falsenodeids",
                "nodes_missing_value_tracks_true", "nodes_featureids")


def _legacy_forest(ctx: Any, prefix: str, n_outputs: int) -> tuple[Any, Any, Any]:
    """Walk the trees of a v1/v3 ensemble; returns (per-tree leaf weights [B, T, n_outputs], the same
    mask of "this leaf carries a weight for that output", number of trees). ``prefix`` is ``class`` or
    ``target``: the attributes that list the leaf weights."""
    import tensorflow as tf

    attrs = {name: value for name in (*_LEGACY_INTS, f"{prefix}_treeids", f"{prefix}_nodeids", f"{prefix}_ids")
             if (value := ctx.attr(name)) is not None}
    attrs.update({name: _floats(ctx, name) for name in ("nodes_values", f"{prefix}_weights")})
    try:
        forest = legacy_forest(attrs, prefix, n_outputs)
    except ValueError as e:
        raise ctx.unsupported(str(e)) from e
    x = ctx.inputs[0]
    if x.shape.rank == 1:
        x = x[None, :]
    leaves = walk(x, forest.roots, forest.root_leaf, forest.depth, forest.tables)
    _, np_score = score_types(x, forest.tables["splits"], forest.tables["table"])
    return (tf.gather(tf.constant(forest.weights.astype(np_score)), leaves), tf.gather(_constant(forest.has), leaves),
            len(forest.roots))


def _post(ctx: Any) -> int:
    name = ctx.attr("post_transform", "NONE")
    if name not in POST_TRANSFORMS:
        raise ctx.unsupported(f"post_transform {name!r}")
    return POST_TRANSFORMS[name]


def _out_dtype(x: Any) -> Any:
    import tensorflow as tf

    return tf.float64 if x.dtype == tf.float64 else tf.float32


@onnx_op("TreeEnsembleRegressor", since=1, domain=ML)
@onnx_op("TreeEnsembleRegressor", since=3, domain=ML)
def tree_ensemble_regressor(ctx: Any) -> Any:
    import numpy as np
    import tensorflow as tf

    n_targets = int(ctx.attr("n_targets", 1))
    w, has, n_trees = _legacy_forest(ctx, "target", n_targets)
    agg = ctx.attr("aggregate_function", "SUM")
    if agg in ("SUM", "AVERAGE"):
        y = tf.reduce_sum(w, axis=1)
        if agg == "AVERAGE":
            y = y / n_trees
    elif agg in ("MIN", "MAX"):  # over the trees whose leaf carries a weight for that target; else 0
        fill = np.inf if agg == "MIN" else -np.inf
        y = (tf.reduce_min if agg == "MIN" else tf.reduce_max)(tf.where(has, w, fill), axis=1)
        y = tf.where(tf.reduce_any(has, axis=1), y, tf.zeros_like(y))
    else:
        raise ctx.unsupported(f"aggregate_function {agg!r}")
    base = _floats(ctx, "base_values")
    if base is not None and len(base):
        y = y + tf.constant(base, y.dtype)
    post = _post(ctx)
    if n_targets > 1 or post == 4:  # ORT transforms a single target only by PROBIT
        y = post_transform(y, post)
    return tf.cast(y, _out_dtype(ctx.inputs[0]))


@onnx_op("TreeEnsembleClassifier", since=1, domain=ML)
@onnx_op("TreeEnsembleClassifier", since=3, domain=ML)
def tree_ensemble_classifier(ctx: Any) -> Any:
    """Outputs (label, scores). More than two classes: scores are the class sums plus base_values, the
    label the first best class among those that have a score. Two classes follow ORT's binary rules."""
    import numpy as np
    import tensorflow as tf

    labels = ctx.attr("classlabels_int64s")
    labels = np.array(labels if labels is not None else ctx.attr("classlabels_strings", []),
                      dtype=np.int64 if labels is not None else object)
    if labels.dtype == object:
        labels = np.array([str(v).encode() for v in labels], dtype=object)
    n = len(labels)
    w, has, _ = _legacy_forest(ctx, "class", n)
    y, scored = tf.reduce_sum(w, axis=1), tf.reduce_any(has, axis=1)  # [B, C]
    base = _floats(ctx, "base_values")
    base = np.zeros(0) if base is None else base
    post = _post(ctx)
    dtype = _out_dtype(ctx.inputs[0])
    class_ids = set(np.asarray(ctx.attr("class_ids", []), np.int64).tolist())
    if n != 2:
        if len(base):
            y, scored = y + tf.constant(base, y.dtype), scored | tf.constant(np.arange(n) < len(base))[None, :]
        best = tf.argmax(tf.where(scored, y, -np.inf), axis=1)
        return [tf.gather(tf.constant(labels), best), tf.cast(post_transform(y, post), dtype)]
    # Two classes. ORT decides from the class ids present, as here, not per sample.
    s0, s1 = y[:, 0], y[:, 1]
    has1 = 1 in class_ids
    two = has1  # two score columns, or the positive one only
    if len(base) == 2:
        if has1:
            s1 = base[1] + s0
            s0 = -s1
        else:  # both columns; class 1 has no score of its own and keeps 0 (ORT adds no base to it)
            s0, two = s0 + base[0], True
    elif len(base) == 1:
        s0 = s0 + base[0]
    positive = s1 if has1 else s0
    binary_case = len(class_ids) == 1
    if binary_case:
        all_positive = bool(np.all(_floats(ctx, "class_weights") >= 0))
        label_pos = positive > (0.5 if all_positive else 0.0)
        label = tf.where(label_pos, tf.constant(labels[1]), tf.constant(labels[0]))
        mode = 0 if all_positive else 2  # 0/1: [1 - s, s]; 2/3: [-s, s], through LOGISTIC if asked
    else:
        label = tf.where(positive > 0, tf.constant(labels[1] if labels.dtype == object else np.int64(1)),
                         tf.constant(labels[0] if labels.dtype == object else np.int64(0)))
        mode = -1
    return [label, tf.cast(_binary_scores(s0, s1, positive, two, mode, post), dtype)]


def _binary_scores(s0: Any, s1: Any, s: Any, two: bool, mode: int, post: int) -> Any:
    """The [B, 1 or 2] scores of a two-class ensemble whose positive score is ``s``, by ORT's rules (see
    tree_ensemble_classifier)."""
    import tensorflow as tf

    if two:
        return post_transform(tf.stack([s0, s1], axis=1), post)
    if post == 4:
        return post_transform(s[:, None], 4)
    if mode == 0:
        return tf.stack([1 - s, s], axis=1)
    if mode == 2:
        if post == 2:
            return tf.stack([tf.sigmoid(-s), tf.sigmoid(s)], axis=1)
        return tf.stack([-s, s], axis=1)
    return s[:, None]
