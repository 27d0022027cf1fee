"""Optimizer steps from ai.onnx.preview.training: Momentum (standard and Nesterov), Adagrad, Adam.

Each node updates N tensors at once: inputs are ``R, T, X_1..X_N, G_1..G_N, <state>_1..<state>_N`` and the
outputs are the new ``X``s followed by the new states. ``R`` is a float scalar (learning rate) and ``T`` an
int64 scalar (step count); scalar coefficients are computed in float64 and cast, like the reference.
"""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []

_DOMAIN = "ai.onnx.preview.training"


def _groups(ctx: Any, n_state: int) -> tuple[Any, Any, list[list[Any]]]:
    """``(R, T, [[X, G, state...] per tensor])`` from the variadic inputs."""
    r, t, rest = ctx.inputs[0], ctx.inputs[1], ctx.inputs[2:]
    per = 2 + n_state
    if len(rest) % per:
        raise ctx.unsupported(f"expected 2 + {per}*N inputs, got {len(ctx.inputs)}")
    n = len(rest) // per
    return r, t, [[rest[k * n + i] for k in range(per)] for i in range(n)]


def _scalar(v: Any, dtype: Any) -> Any:
    import tensorflow as tf

    return tf.cast(tf.reshape(v, []), dtype)


@onnx_op("Momentum", since=1, domain=_DOMAIN)
def momentum(ctx: Any) -> Any:
    import tensorflow as tf

    alpha, beta = float(ctx.attr("alpha")), float(ctx.attr("beta"))
    norm = float(ctx.attr("norm_coefficient"))
    nesterov = ctx.attr("mode", "standard") == "nesterov"
    r, t, groups = _groups(ctx, 1)
    xs, vs = [], []
    for x, g, v in groups:
        dt = x.dtype
        g_reg = norm * x + g
        # The gradient's coefficient is 1 at the first step (T == 0).
        beta_adj = tf.where(_scalar(t, tf.int64) > 0, tf.constant(beta, dt), tf.constant(1.0, dt))
        v_new = alpha * v + beta_adj * g_reg
        step = g_reg + alpha * v_new if nesterov else v_new
        xs.append(x - _scalar(r, dt) * step)
        vs.append(v_new)
    return [*xs, *vs]


@onnx_op("Adagrad", since=1, domain=_DOMAIN)
def adagrad(ctx: Any) -> Any:
    import tensorflow as tf

    decay = float(ctx.attr("decay_factor", 0.0))
    eps = float(ctx.attr("epsilon", 1e-6))
    norm = float(ctx.attr("norm_coefficient", 0.0))
    r, t, groups = _groups(ctx, 1)
    r64, t64 = _scalar(r, tf.float64), _scalar(t, tf.float64)
    rate = r64 / (1.0 + t64 * decay)
    xs, hs = [], []
    for x, g, h in groups:
        dt = x.dtype
        g_reg = norm * x + g
        h_new = h + g_reg * g_reg
        xs.append(x - tf.cast(rate, dt) * g_reg / (tf.sqrt(h_new) + eps))
        hs.append(h_new)
    return [*xs, *hs]


@onnx_op("Adam", since=1, domain=_DOMAIN)
def adam(ctx: Any) -> Any:
    import tensorflow as tf

    alpha, beta = float(ctx.attr("alpha", 0.9)), float(ctx.attr("beta", 0.999))
    eps = float(ctx.attr("epsilon", 1e-6))
    norm, norm_post = float(ctx.attr("norm_coefficient", 0.0)), float(ctx.attr("norm_coefficient_post", 0.0))
    r, t, groups = _groups(ctx, 2)
    r64, t64 = _scalar(r, tf.float64), _scalar(t, tf.float64)
    # Bias correction of both momentums, from the second step on.
    corrected = r64 * tf.sqrt(1.0 - tf.pow(tf.constant(beta, tf.float64), t64)) / (
        1.0 - tf.pow(tf.constant(alpha, tf.float64), t64))
    rate = tf.where(t64 > 0, corrected, r64)
    xs, vs, hs = [], [], []
    for x, g, v, h in groups:
        dt = x.dtype
        g_reg = norm * x + g
        v_new = alpha * v + (1 - alpha) * g_reg
        h_new = beta * h + (1 - beta) * (g_reg * g_reg)
        x_new = x - tf.cast(rate, dt) * (v_new / (tf.sqrt(h_new) + eps))
        xs.append((1 - norm_post) * x_new)
        vs.append(v_new)
        hs.append(h_new)
    return [*xs, *vs, *hs]
