"""Support vector machines of the ai.onnx.ml domain: SVMRegressor and SVMClassifier (libsvm's one-vs-one
SVC with optional Platt probabilities, or liblinear's per-class weights), as ONNX Runtime computes them:
float32 inputs, pairwise decision values ``sum(coef * K) + rho``, votes, and libsvm's pairwise-coupling
iteration (at most 100 rounds, stopping per row) for probabilities."""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.ops._ml_common import ML, POST_TRANSFORMS, post_transform
from bridge_converters.onnx_tf.ops.ml_linear import as_rows, class_labels
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


def _kernel(ctx: Any, x: Any, vectors: Any) -> Any:
    """K(x, v) for every row of x [N, F] and every vector [V, F]: [N, V]."""
    import tensorflow as tf

    params = list(ctx.attr("kernel_params", [])) + [0.0, 0.0, 0.0]
    gamma, coef0, degree = float(params[0]), float(params[1]), float(params[2])
    kind = ctx.attr("kernel_type", "LINEAR")
    v = tf.constant(vectors)
    dot = tf.matmul(x, v, transpose_b=True)
    if kind == "LINEAR":
        return dot
    if kind == "POLY":
        return tf.pow(gamma * dot + coef0, degree)
    if kind == "RBF":
        sq = tf.reduce_sum(tf.square(x[:, None, :] - v[None, :, :]), axis=-1)
        return tf.exp(-gamma * sq)
    if kind == "SIGMOID":
        return tf.tanh(gamma * dot + coef0)
    raise ctx.unsupported(f"kernel_type {kind!r}")


def _post(ctx: Any) -> int:
    name = ctx.attr("post_transform", "NONE")
    if name not in POST_TRANSFORMS:
        raise ctx.unsupported(f"post_transform {name!r}")
    return POST_TRANSFORMS[name]


@onnx_op("SVMRegressor", since=1, domain=ML)
def svm_regressor(ctx: Any) -> Any:
    import numpy as np
    import tensorflow as tf

    x = as_rows(ctx.inputs[0])
    coef = np.asarray(ctx.attr("coefficients"), np.float32)
    rho = float(np.asarray(ctx.attr("rho", [0.0]), np.float32)[0])
    n_sv = int(ctx.attr("n_supports", 0))
    if n_sv > 0:
        sv = np.asarray(ctx.attr("support_vectors"), np.float32).reshape(n_sv, -1)
        y = tf.matmul(_kernel(ctx, x, sv), tf.constant(coef[:n_sv, None])) + rho
    else:  # liblinear: the coefficients are the weights
        y = tf.matmul(x, tf.constant(coef[:, None])) + rho
    if int(ctx.attr("one_class", 0)):
        y = tf.where(y > 0, tf.ones_like(y), -tf.ones_like(y))
    post = _post(ctx)
    return post_transform(y, post) if post == 4 else y


def _coupling(ctx: Any, r: Any, k: int) -> Any:
    """libsvm's multiclass_probability on pairwise probabilities r [N, k, k]: p [N, k]."""
    import tensorflow as tf

    q = [[None] * k for _ in range(k)]
    for i in range(k):
        diag = tf.zeros_like(r[:, 0, 0])
        for j in range(k):
            if j != i:
                diag = diag + r[:, j, i] * r[:, j, i]
        q[i][i] = diag
        for j in range(k):
            if j != i:
                q[i][j] = -r[:, j, i] * r[:, i, j]
    qm = tf.stack([tf.stack(row, axis=-1) for row in q], axis=1)  # [N, k, k]
    eps = 0.005 / k
    p0 = tf.fill(tf.stack([tf.shape(r)[0], k]), tf.constant(1.0 / k, r.dtype))

    def body(it: Any, p: Any, done: Any) -> tuple[Any, Any, Any]:
        qp = tf.linalg.matvec(qm, p)
        pqp = tf.reduce_sum(p * qp, axis=1)
        err = tf.reduce_max(tf.abs(qp - pqp[:, None]), axis=1)
        done = done | (err < eps)
        new_p, new_qp, new_pqp = p, qp, pqp
        for i in range(k):
            diff = (-new_qp[:, i] + new_pqp) / qm[:, i, i]
            onehot = tf.one_hot(i, k, dtype=p.dtype)[None, :]
            new_p = new_p + diff[:, None] * onehot
            new_pqp = (new_pqp + diff * (diff * qm[:, i, i] + 2 * new_qp[:, i])) / (1 + diff) / (1 + diff)
            new_qp = (new_qp + diff[:, None] * qm[:, i, :]) / (1 + diff)[:, None]
            new_p = new_p / (1 + diff)[:, None]
        keep = done[:, None]
        return it + 1, tf.where(keep, p, new_p), done

    done0 = tf.zeros(tf.shape(r)[:1], tf.bool)
    _, p, _ = tf.while_loop(lambda it, p, d: (it < 100) & ~tf.reduce_all(d), body, (tf.constant(0), p0, done0))
    return p


@onnx_op("SVMClassifier", since=1, domain=ML)
def svm_classifier(ctx: Any) -> Any:
    """Outputs (label, scores): probabilities with prob_a/prob_b, else the pairwise decision values
    (liblinear mode: one score per class)."""
    import numpy as np
    import tensorflow as tf

    labels = class_labels(ctx)
    k = len(labels)
    x = as_rows(ctx.inputs[0])
    coef = np.asarray(ctx.attr("coefficients"), np.float32)
    rho = np.asarray(ctx.attr("rho", [0.0]), np.float32)
    per_class = [int(v) for v in ctx.attr("vectors_per_class", [])]
    post = _post(ctx)
    if not per_class:  # liblinear mode
        scores = tf.matmul(x, tf.constant(coef.reshape(k, -1)), transpose_b=True) + rho[0]
        if k <= 2:
            raise ctx.unsupported("a two-class liblinear SVMClassifier")
        return [tf.gather(tf.constant(labels), tf.argmax(scores, axis=1)), post_transform(scores, post)]
    if k <= 2:
        raise ctx.unsupported("a two-class SVC (ORT's binary label rules are not converted yet)")
    n_sv = sum(per_class)
    sv = np.asarray(ctx.attr("support_vectors"), np.float32).reshape(n_sv, -1)
    kern = _kernel(ctx, x, sv)  # [N, V]
    coef = coef.reshape(k - 1, n_sv)
    start = np.concatenate([[0], np.cumsum(per_class)[:-1]]).astype(int)
    pair_scores, votes = [], tf.zeros(tf.stack([tf.shape(x)[0], k]), tf.int32)
    idx = 0
    for i in range(k - 1):
        for j in range(i + 1, k):
            si, sj = slice(start[i], start[i] + per_class[i]), slice(start[j], start[j] + per_class[j])
            s = (tf.linalg.matvec(kern[:, si], tf.constant(coef[j - 1, si]))
                 + tf.linalg.matvec(kern[:, sj], tf.constant(coef[i, sj])) + rho[idx])
            idx += 1
            pair_scores.append(s)
            votes = votes + tf.one_hot(tf.where(s > 0, i, j), k, dtype=tf.int32)
    label = tf.gather(tf.constant(labels), tf.argmax(votes, axis=1))  # first class with the most votes
    dec = tf.stack(pair_scores, axis=1)
    prob_a, prob_b = ctx.attr("prob_a"), ctx.attr("prob_b")
    if not prob_a:
        return [label, post_transform(dec, post)]
    a, b = np.asarray(prob_a, np.float32), np.asarray(prob_b, np.float32)
    val = dec * a + b
    p = 1.0 - tf.sigmoid(val)  # libsvm's sigmoid_predict: 1 / (1 + exp(score * A + B))
    p = tf.clip_by_value(p, 1e-7, 1 - 1e-7)
    r = [[tf.zeros_like(p[:, 0])] * k for _ in range(k)]
    idx = 0
    for i in range(k - 1):
        for j in range(i + 1, k):
            r[i][j], r[j][i] = p[:, idx], 1 - p[:, idx]
            idx += 1
    rm = tf.stack([tf.stack(row, axis=-1) for row in r], axis=1)
    probs = _coupling(ctx, rm, k)
    return [label, post_transform(probs, post)]
