"""Recurrent layers: RNN, GRU, LSTM (all directions, layouts, sequence_lens, custom activations, clip).

Each direction projects every time step's input at once (one big matmul), then ``tf.scan`` runs the
recurrent part over time, so sequence lengths may be dynamic. Gate orders follow ONNX: LSTM ``iofc``,
GRU ``zrh``. With ``sequence_lens``, steps past a batch entry's length output zeros and leave its state
unchanged, so the final state is the one at its last valid step; the reverse direction starts at each
entry's own last valid step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bridge_converters.onnx_tf.ops._common import permute
from bridge_converters.onnx_tf.registry import onnx_op

__all__ = ["LSTM_ACTIVATIONS", "Recurrent", "lstm_layer"]

# name -> (default alpha, default beta, consumes alpha, consumes beta), as ONNX Runtime reads the lists.
_ACTIVATION_ARGS = {
    "affine": (1.0, 0.0, True, True), "leakyrelu": (0.01, 0.0, True, False),
    "thresholdedrelu": (1.0, 0.0, True, False), "scaledtanh": (1.0, 1.0, True, True),
    "hardsigmoid": (0.2, 0.5, True, True), "elu": (1.0, 0.0, True, False),
}


def _activation(ctx: Any, name: str, alpha: float, beta: float) -> Callable[[Any], Any]:
    import tensorflow as tf

    table: dict[str, Callable[[Any], Any]] = {
        "sigmoid": tf.sigmoid,
        "tanh": tf.tanh,
        "relu": tf.nn.relu,
        "affine": lambda x: alpha * x + beta,
        "leakyrelu": lambda x: tf.where(x >= 0, x, alpha * x),
        "thresholdedrelu": lambda x: tf.where(x > alpha, x, tf.zeros_like(x)),
        "scaledtanh": lambda x: alpha * tf.tanh(beta * x),
        "hardsigmoid": lambda x: tf.clip_by_value(alpha * x + beta, 0.0, 1.0),
        "elu": lambda x: tf.where(x >= 0, x, alpha * (tf.exp(x) - 1)),
        "softsign": tf.math.softsign,
        "softplus": tf.math.softplus,
    }
    fn = table.get(name.lower())
    if fn is None:
        raise ctx.unsupported(f"activation {name!r} is not supported")
    return fn


def _activations(ctx: Any, defaults: Sequence[str], num_dirs: int) -> list[list[Callable[[Any], Any]]]:
    """Activation functions per direction; alphas and betas are consumed in order by those that take them."""
    names = list(ctx.attr("activations", []) or [])
    if not names:
        names = list(defaults) * num_dirs
    elif len(names) == len(defaults) and num_dirs == 2:
        names = names * 2
    if len(names) != len(defaults) * num_dirs:
        raise ctx.unsupported(f"expected {len(defaults) * num_dirs} activations, got {len(names)}")
    alphas = list(ctx.attr("activation_alpha", []) or [])
    betas = list(ctx.attr("activation_beta", []) or [])
    fns = []
    for name in names:
        alpha, beta, takes_alpha, takes_beta = _ACTIVATION_ARGS.get(name.lower(), (0.0, 0.0, False, False))
        if takes_alpha and alphas:
            alpha = alphas.pop(0)
        if takes_beta and betas:
            beta = betas.pop(0)
        fns.append(_activation(ctx, name, alpha, beta))
    per = len(defaults)
    return [fns[d * per:(d + 1) * per] for d in range(num_dirs)]


def _clipper(ctx: Any) -> Callable[[Any], Any]:
    import tensorflow as tf

    clip = ctx.attr("clip")
    if clip is None:
        return lambda x: x
    return lambda x: tf.clip_by_value(x, -clip, clip)


def _run_direction(x_proj: Any, states: list[Any], seq_lens: Any, reverse: bool,
                   cell: Callable[[Any, list[Any]], tuple[Any, list[Any]]]) -> tuple[Any, list[Any]]:
    """Scan ``cell(x_t, states) -> (h_t, new_states)`` over time-major ``x_proj``; returns (Y [T, B, H], finals)."""
    import tensorflow as tf

    steps = tf.shape(x_proj)[0]
    if reverse:
        if seq_lens is None:
            x_proj = tf.reverse(x_proj, axis=[0])
        else:
            x_proj = tf.reverse_sequence(x_proj, seq_lens, seq_axis=0, batch_axis=1)
    init = (tf.zeros_like(states[0]), *states)  # (h_t output, states...)
    if x_proj.shape[0] is not None and 0 < x_proj.shape[0] <= _UNROLL_MAX_STEPS:
        y, finals = _unrolled(x_proj, init, seq_lens, cell)
        if reverse:
            y = tf.reverse(y, axis=[0]) if seq_lens is None else tf.reverse_sequence(y, seq_lens, seq_axis=0, batch_axis=1)
        return y, finals
    if seq_lens is None:
        def step(carry: Any, x_t: Any) -> Any:
            h, new_states = cell(x_t, list(carry[1:]))
            return (h, *new_states)

        scanned = tf.scan(step, x_proj, initializer=init)
    else:
        valid = tf.range(steps, dtype=seq_lens.dtype)[:, None] < seq_lens[None, :]  # [T, B]

        def masked_step(carry: Any, elems: Any) -> Any:
            x_t, ok = elems
            ok = ok[:, None]
            prev = list(carry[1:])
            h, new_states = cell(x_t, prev)
            kept = [tf.where(ok, s, p) for s, p in zip(new_states, prev)]
            return (tf.where(ok, h, tf.zeros_like(h)), *kept)

        scanned = tf.scan(masked_step, (x_proj, valid), initializer=init)
    y = scanned[0]
    # States are frozen past each length, so the last scanned state is the final one (initial when T == 0).
    if x_proj.shape[0]:
        finals = [s[-1] for s in scanned[1:]]
    else:
        finals = [tf.cond(steps > 0, lambda s=s: s[-1], lambda i=i: i) for s, i in zip(scanned[1:], states)]
    if reverse:
        y = tf.reverse(y, axis=[0]) if seq_lens is None else tf.reverse_sequence(y, seq_lens, seq_axis=0, batch_axis=1)
    return y, finals


_UNROLL_MAX_STEPS = 32  # a short static sequence unrolls: no TensorList ops, which TFLite cannot lower inside an IF


def _unrolled(x_proj: Any, init: tuple[Any, ...], seq_lens: Any,
              cell: Callable[[Any, list[Any]], tuple[Any, list[Any]]]) -> tuple[Any, list[Any]]:
    """The scan of ``_run_direction`` as straight-line ops, one cell per static time step."""
    import tensorflow as tf

    carry = list(init)
    ys = []
    for t, x_t in enumerate(tf.unstack(x_proj)):  # one op for every step's input, not a slice per step
        h, new_states = cell(x_t, carry[1:])
        if seq_lens is not None:
            ok = (t < seq_lens)[:, None]
            new_states = [tf.where(ok, s, p) for s, p in zip(new_states, carry[1:])]
            h = tf.where(ok, h, tf.zeros_like(h))
        carry = [h, *new_states]
        ys.append(h)
    return tf.stack(ys), carry[1:]


class Recurrent:
    """Inputs and attributes shared by RNN, GRU and LSTM, normalised to time-major, direction-first form."""

    def __init__(self, ctx: Any, n_gates: int, default_acts: Sequence[str]) -> None:
        import tensorflow as tf

        self.ctx = ctx
        self.x, self.w, self.r = ctx.inputs[:3]
        self.layout = ctx.attr("layout", 0)
        if self.layout:  # [B, T, I] -> [T, B, I]
            self.x = permute(self.x, [1, 0, 2])
        direction = ctx.attr("direction", "forward")
        if direction not in ("forward", "reverse", "bidirectional"):
            raise ctx.unsupported(f"direction {direction!r}")
        self.reverse = [direction == "reverse"] if direction != "bidirectional" else [False, True]
        self.hidden = ctx.attr("hidden_size") or self.r.shape[-1]
        if self.hidden is None:
            raise ctx.unsupported("hidden_size is needed when R's last dimension is not static")
        dtype = self.x.dtype
        self.w, self.r = tf.cast(self.w, dtype), tf.cast(self.r, dtype)
        size = n_gates * self.hidden
        self.b = tf.cast(ctx.input(3), dtype) if ctx.has_input(3) else tf.zeros([len(self.reverse), 2 * size], dtype)
        self.seq_lens = self._seq_lens(ctx.input(4))
        self.acts = _activations(ctx, default_acts, len(self.reverse))
        self.clip = _clipper(ctx)
        batch = tf.shape(self.x)[1]
        self.zero_state = tf.zeros(tf.stack([len(self.reverse), batch, self.hidden]), dtype)

    def _seq_lens(self, seq: Any) -> Any:
        import numpy as np
        import tensorflow as tf

        if seq is None:
            return None
        static = self.ctx.const(4)
        steps = self.x.shape[0]
        if static is not None and steps is not None and np.all(np.asarray(static) == steps):
            return None  # every sequence is full length: no masking needed
        return tf.cast(seq, tf.int32)

    def state(self, i: int) -> Any:
        """Initial state input ``i`` as [D, B, H] (zeros when absent)."""
        import tensorflow as tf

        if not self.ctx.has_input(i):
            return self.zero_state
        s = tf.cast(self.ctx.inputs[i], self.x.dtype)
        return permute(s, [1, 0, 2]) if self.layout else s

    def project(self, d: int, bias: Any) -> Any:
        """x_t @ W[d]^T + bias for every time step: [T, B, G*H]."""
        import tensorflow as tf

        return tf.einsum("tbi,gi->tbg", self.x, self.w[d]) + bias

    def outputs(self, ys: list[Any], finals: list[list[Any]]) -> list[Any]:
        """Y [T, D, B, H] (or [B, T, D, H]) followed by each final state [D, B, H] (or [B, D, H])."""
        import tensorflow as tf

        y = tf.stack(ys, axis=1)
        states = [tf.stack(list(s), axis=0) for s in zip(*finals)]
        if self.layout:
            y = permute(y, [2, 0, 1, 3])
            states = [permute(s, [1, 0, 2]) for s in states]
        return [y, *states][:max(1, self.ctx.num_outputs)]


@onnx_op("RNN", since=1)
@onnx_op("RNN", since=7)
@onnx_op("RNN", since=14)
def rnn(ctx: Any) -> Any:
    import tensorflow as tf

    m = Recurrent(ctx, 1, ["Tanh"])
    h0 = m.state(5)
    ys, finals = [], []
    for d, reverse in enumerate(m.reverse):
        wb, rb = tf.split(m.b[d], 2)
        r_t = tf.transpose(m.r[d])
        (f,) = m.acts[d]

        def cell(x_t: Any, states: list[Any], r_t: Any = r_t, f: Any = f) -> tuple[Any, list[Any]]:
            h = f(m.clip(x_t + tf.matmul(states[0], r_t)))
            return h, [h]

        y, fin = _run_direction(m.project(d, wb + rb), [h0[d]], m.seq_lens, reverse, cell)
        ys.append(y)
        finals.append(fin)
    return m.outputs(ys, finals)


@onnx_op("GRU", since=1)
@onnx_op("GRU", since=3)
@onnx_op("GRU", since=7)
@onnx_op("GRU", since=14)
def gru(ctx: Any) -> Any:
    import tensorflow as tf

    m = Recurrent(ctx, 3, ["Sigmoid", "Tanh"])
    linear_before_reset = ctx.attr("linear_before_reset", 0)
    h0 = m.state(5)
    hid = m.hidden
    ys, finals = [], []
    for d, reverse in enumerate(m.reverse):
        wb, rb = tf.split(m.b[d], 2)
        r_zr = tf.transpose(m.r[d][:2 * hid])
        r_h = tf.transpose(m.r[d][2 * hid:])
        rb_zr, rb_h = rb[:2 * hid], rb[2 * hid:]
        f, g = m.acts[d]

        def cell(x_t: Any, states: list[Any], r_zr: Any = r_zr, r_h: Any = r_h, rb_zr: Any = rb_zr,
                 rb_h: Any = rb_h, f: Any = f, g: Any = g) -> tuple[Any, list[Any]]:
            h_prev = states[0]
            x_zr, x_h = tf.split(x_t, [2 * hid, hid], axis=1)
            z, r = tf.split(f(m.clip(x_zr + tf.matmul(h_prev, r_zr) + rb_zr)), 2, axis=1)
            if linear_before_reset:
                cand = g(m.clip(x_h + r * (tf.matmul(h_prev, r_h) + rb_h)))
            else:
                cand = g(m.clip(x_h + tf.matmul(r * h_prev, r_h) + rb_h))
            h = (1 - z) * cand + z * h_prev
            return h, [h]

        y, fin = _run_direction(m.project(d, wb), [h0[d]], m.seq_lens, reverse, cell)
        ys.append(y)
        finals.append(fin)
    return m.outputs(ys, finals)


LSTM_ACTIVATIONS = ["Sigmoid", "Tanh", "Tanh"]


@onnx_op("LSTM", since=1)
@onnx_op("LSTM", since=7)
@onnx_op("LSTM", since=14)
def lstm(ctx: Any) -> Any:
    import tensorflow as tf

    m = Recurrent(ctx, 4, LSTM_ACTIVATIONS)

    def recurrence(d: int) -> Callable[[Any], Any]:
        r_t = tf.transpose(m.r[d])
        return lambda h: tf.matmul(h, r_t)

    return lstm_layer(ctx, m, m.project, recurrence)


def lstm_layer(ctx: Any, m: Recurrent, project: Callable[[int, Any], Any],
               recurrence: Callable[[int], Callable[[Any], Any]]) -> Any:
    """The LSTM over every direction of ``m``: ``project(d, bias)`` gives each step's input part of the gates
    [T, B, 4H], ``recurrence(d)(h)`` the hidden state's part [B, 4H] (com.microsoft's quantized LSTM
    computes both its own way)."""
    import tensorflow as tf

    input_forget = ctx.attr("input_forget", 0)
    h0, c0 = m.state(5), m.state(6)
    hid = m.hidden
    peep = tf.cast(ctx.inputs[7], m.x.dtype) if ctx.has_input(7) else None
    ys, finals = [], []
    for d, reverse in enumerate(m.reverse):
        wb, rb = tf.split(m.b[d], 2)
        p_i, p_o, p_f = (None, None, None) if peep is None else tf.split(peep[d], 3)
        f, g, h_act = m.acts[d]

        def cell(x_t: Any, states: list[Any], recur: Any = recurrence(d), p_i: Any = p_i, p_o: Any = p_o,
                 p_f: Any = p_f, f: Any = f, g: Any = g, h_act: Any = h_act) -> tuple[Any, list[Any]]:
            h_prev, c_prev = states
            gates = x_t + recur(h_prev)
            joint = p_i is None and not input_forget  # i, o, f through f at once: one kernel, not three
            if joint:
                iof, c = tf.split(gates, [3 * hid, hid], axis=1)
                i, o, fg = tf.split(f(m.clip(iof)), 3, axis=1)
            else:
                i, o, fg, c = tf.split(gates, 4, axis=1)
                if p_i is not None:
                    i = i + p_i * c_prev
                    fg = fg + p_f * c_prev
                i = f(m.clip(i))
                fg = 1 - i if input_forget else f(m.clip(fg))
            c_new = fg * c_prev + i * g(m.clip(c))
            if not joint:
                if p_o is not None:
                    o = o + p_o * c_new
                o = f(m.clip(o))
            h = o * h_act(c_new)
            return h, [h, c_new]

        y, fin = _run_direction(project(d, wb + rb), [h0[d], c0[d]], m.seq_lens, reverse, cell)
        ys.append(y)
        finals.append(fin)
    return m.outputs(ys, finals)
