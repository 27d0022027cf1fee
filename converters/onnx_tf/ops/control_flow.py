"""Control flow: If, Loop, Scan. Bodies are converted inside ``tf.cond`` / ``tf.while_loop`` and see the
enclosing scope through ``ctx.subgraph``.

Only tensor values are supported: sequence and optional typed bodies raise as unsupported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bridge.errors import first_line
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


def _tensor_types(ctx: Any, values: Sequence[Any], what: str) -> list[Any]:
    """TF dtypes of a body's graph outputs (None where untyped, as in expanded function bodies);
    non-tensor (sequence, optional) values are unsupported."""
    from bridge_converters.onnx_tf.dtypes import tf_dtype

    dtypes = []
    for v in values:
        if not v.type.HasField("tensor_type"):
            if v.type.WhichOneof("value") is None:
                dtypes.append(None)
                continue
            raise ctx.unsupported(f"{what} '{v.name}' is not a tensor (sequences and optionals are unsupported)")
        elem = v.type.tensor_type.elem_type
        dtypes.append(tf_dtype(elem) if elem else None)
    return dtypes


def _complete_types(dtypes: list[Any], trace_body: Callable[[], list[Any]], first: int) -> list[Any]:
    """Fill unknown dtypes by tracing the body once in a throwaway function; its outputs from
    index ``first`` on correspond to ``dtypes``."""
    import tensorflow as tf

    if all(d is not None for d in dtypes):
        return dtypes
    outs = tf.function(lambda: list(trace_body()), autograph=False).get_concrete_function().structured_outputs
    return [d if d is not None else o.dtype for d, o in zip(dtypes, list(outs)[first:])]


def _while(cond: Callable[..., Any], body: Callable[..., Any], loop_vars: list[Any], fixed: int,
           maximum_iterations: Any = None) -> list[Any]:
    """tf.while_loop keeping static shapes where the body preserves them.

    The first ``fixed`` loop variables keep their shape; if a body changes another variable's shape,
    the loop is rebuilt with those variables' dimensions relaxed (their rank kept).
    """
    import tensorflow as tf

    def invariants(relax: bool) -> list[Any]:
        shapes = []
        for i, v in enumerate(loop_vars):
            if isinstance(v, tf.TensorArray):
                shapes.append(tf.TensorShape(None))
            elif relax and i >= fixed and v.shape.rank is not None:
                shapes.append(tf.TensorShape([None] * v.shape.rank))
            else:
                shapes.append(v.shape)
        return shapes

    try:
        return tf.while_loop(cond, body, loop_vars, shape_invariants=invariants(False),
                             maximum_iterations=maximum_iterations)
    except ValueError as exc:
        if "shape" not in str(exc):
            raise
        return tf.while_loop(cond, body, loop_vars, shape_invariants=invariants(True),
                             maximum_iterations=maximum_iterations)


# -- If --------------------------------------------------------------------------------------------------
@onnx_op("If", since=1)
def if_op(ctx: Any) -> Any:
    import numpy as np
    import tensorflow as tf

    then_branch, else_branch = ctx.subgraph("then_branch"), ctx.subgraph("else_branch")
    _tensor_types(ctx, ctx.subgraph_proto("then_branch").output, "then_branch output")
    _tensor_types(ctx, ctx.subgraph_proto("else_branch").output, "else_branch output")
    static = ctx.const(0)
    if static is not None:  # a known condition converts only the branch taken, keeping its static shapes
        return then_branch([]) if bool(np.asarray(static).reshape(-1)[0]) else else_branch([])
    # Branches may produce different shapes; tf.cond then reports the most specific common shape.
    then_fn, else_fn = _guarded_branches(ctx, then_branch, else_branch)
    outs = tf.cond(tf.reshape(tf.cast(ctx.inputs[0], tf.bool), []), then_fn, else_fn)
    return list(outs) if isinstance(outs, (list, tuple)) else [outs]


def _shape_failure(exc: BaseException) -> bool:
    """A branch that failed on the static shapes it was given (not on an unsupported op or attribute)."""
    import tensorflow as tf

    cause = exc.__cause__ if exc.__cause__ is not None else exc
    text = str(cause).lower()
    return isinstance(cause, (ValueError, tf.errors.InvalidArgumentError)) and any(
        word in text for word in ("shape", "rank", "dimension"))


def _guarded_branches(ctx: Any, then_branch: Callable[..., Any], else_branch: Callable[..., Any]) -> tuple[Any, Any]:
    """A data-dependent If whose one branch cannot even be built at the input shapes being converted (a
    sample-rate switch whose other branch expects other lengths): that branch could never run at these
    shapes in ONNX Runtime either, so it becomes one that raises at run time, shaped like the other."""
    import tensorflow as tf

    def trial(branch: Callable[..., Any]) -> BaseException | None:
        try:
            tf.function(lambda: list(branch([])), autograph=False).get_concrete_function()
        except Exception as exc:  # noqa: BLE001 - judged by _shape_failure below
            return exc
        return None

    failures = [trial(then_branch), trial(else_branch)]
    if all(f is None for f in failures) or all(f is not None for f in failures):
        return (lambda: list(then_branch([]))), (lambda: list(else_branch([])))
    bad = 0 if failures[0] is not None else 1
    if not _shape_failure(failures[bad]):  # type: ignore[arg-type]
        raise failures[bad]  # type: ignore[misc]
    good = else_branch if bad == 0 else then_branch
    which = ("then_branch", "else_branch")[bad]
    ctx.warn(
        f"If '{ctx.name or '(unnamed)'}': its {which} cannot run at the input shapes converted for "
        f"({first_line(failures[bad].__cause__ or failures[bad])[:120]}); where ONNX Runtime would raise, the converted "
        "model returns NaN (float) or the lowest value (integer) outputs; keep axes --dynamic to convert it whole")

    def failing() -> list[Any]:
        # No Assert: TFLite has no builtin for it, and ONNX Runtime would fail here anyway.
        outs = list(good([]))
        return [tf.fill(tf.shape(o), tf.constant(float("nan") if o.dtype.is_floating else o.dtype.min, o.dtype))
                if o.dtype.is_floating or o.dtype.is_integer else tf.zeros_like(o) for o in outs]

    return (failing, lambda: list(good([]))) if bad == 0 else ((lambda: list(good([]))), failing)


# -- Loop ------------------------------------------------------------------------------------------------
@onnx_op("Loop", since=1)
@onnx_op("Loop", since=11)
def loop(ctx: Any) -> Any:
    import tensorflow as tf

    body = ctx.subgraph("body")
    proto = ctx.subgraph_proto("body")
    carried_init = [ctx.inputs[i] for i in range(2, len(ctx.inputs))]
    if any(v is None for v in carried_init):
        raise ctx.unsupported("loop-carried values must all be given")
    n_carried = len(carried_init)
    scan_types = _tensor_types(ctx, proto.output[1 + n_carried:], "body scan output")
    _tensor_types(ctx, proto.output[:1 + n_carried], "body output")

    trip = ctx.input(0)
    max_iters = None
    if trip is not None:
        trip = tf.reshape(tf.cast(trip, tf.int64), [])
        static_trip = ctx.const(0)
        # torch.onnx writes INT64_MAX for "no bound"; tf's maximum_iterations is int32.
        if static_trip is not None and int(static_trip) < 2**31 - 1:
            max_iters = int(static_trip)
    has_cond = ctx.has_input(1)
    cond0 = tf.reshape(tf.cast(ctx.inputs[1], tf.bool), []) if has_cond else tf.constant(True)
    scan_types = _complete_types(scan_types, lambda: body([tf.constant(0, tf.int64), cond0, *carried_init]),
                                 1 + n_carried)
    arrays = [tf.TensorArray(dt, size=0, dynamic_size=True, infer_shape=False) for dt in scan_types]

    def keep_going(i: Any, cond: Any, *rest: Any) -> Any:
        if trip is None:
            return cond
        return tf.logical_and(i < trip, cond) if has_cond else i < trip

    shapes: list[Any] = [None] * len(scan_types)  # element shapes seen while tracing the body

    def step(i: Any, cond: Any, *rest: Any) -> list[Any]:
        carried, tas = list(rest[:n_carried]), list(rest[n_carried:])
        outs = body([i, cond, *carried])
        shapes[:] = [o.shape for o in outs[1 + n_carried:]]
        new_cond = tf.reshape(tf.cast(outs[0], tf.bool), [])
        new_carried = [tf.cast(o, c.dtype) for o, c in zip(outs[1:1 + n_carried], carried)]
        new_tas = [ta.write(tf.cast(i, tf.int32), o) for ta, o in zip(tas, outs[1 + n_carried:])]
        return [i + 1, new_cond, *new_carried, *new_tas]

    start = [tf.constant(0, tf.int64), cond0, *carried_init, *arrays]
    result = _while(keep_going, step, start, fixed=2, maximum_iterations=max_iters)
    finals = list(result[2:2 + n_carried])
    scans = [_stack(ta, shape, out) for ta, shape, out in zip(result[2 + n_carried:], shapes,
                                                               proto.output[1 + n_carried:])]
    return [*finals, *scans]


def _stack(ta: Any, shape: Any, value_info: Any) -> Any:
    """Stack a scan output whose elements have static ``shape`` (traced in the body) or the body's
    declared shape; an empty one still gets its element shape when either is fully known."""
    import tensorflow as tf

    if shape is None or not shape.is_fully_defined():
        declared = value_info.type.tensor_type.shape.dim if value_info.type.tensor_type.HasField("shape") else None
        if declared is not None and all(d.HasField("dim_value") for d in declared):
            shape = tf.TensorShape([int(d.dim_value) for d in declared])
    if shape is not None and shape.is_fully_defined():
        y = tf.cond(ta.size() > 0, ta.stack, lambda: tf.zeros([0, *shape.as_list()], ta.dtype))
    else:
        y = ta.stack()
    if shape is not None and shape.rank is not None:
        y.set_shape([None, *shape.as_list()])
    return y


# -- Scan ------------------------------------------------------------------------------------------------
def _scan(ctx: Any, states: list[Any], inputs: list[Any], in_axes: list[int], in_reverse: list[int],
          out_axes: list[int], out_reverse: list[int]) -> list[Any]:
    """Scan-9 semantics on already batch-free tensors."""
    import tensorflow as tf

    body = ctx.subgraph("body")
    proto = ctx.subgraph_proto("body")
    n_states = len(states)
    out_types = _tensor_types(ctx, proto.output[n_states:], "body scan output")
    seqs = []
    for x, axis, rev in zip(inputs, in_axes, in_reverse):
        rank = x.shape.rank
        axis = axis + rank if axis < 0 else axis
        if axis:
            x = tf.transpose(x, [axis, *[a for a in range(rank) if a != axis]])
        seqs.append(tf.reverse(x, [0]) if rev else x)
    steps = tf.shape(seqs[0])[0] if seqs else tf.constant(0)
    out_types = _complete_types(out_types, lambda: body([*states, *[s[0] for s in seqs]]), n_states)
    arrays = [tf.TensorArray(dt, size=steps, infer_shape=False) for dt in out_types]

    shapes: list[Any] = [None] * len(out_types)  # element shapes seen while tracing the body

    def step(t: Any, *rest: Any) -> list[Any]:
        carried, tas = list(rest[:n_states]), list(rest[n_states:])
        outs = body([*carried, *[tf.gather(s, t) for s in seqs]])
        shapes[:] = [o.shape for o in outs[n_states:]]
        new_states = [tf.cast(o, c.dtype) for o, c in zip(outs[:n_states], carried)]
        return [t + 1, *new_states, *[ta.write(t, o) for ta, o in zip(tas, outs[n_states:])]]

    result = _while(lambda t, *rest: t < steps, step, [tf.constant(0), *states, *arrays], fixed=1)
    finals = list(result[1:1 + n_states])
    scans = []
    for ta, shape, vi, axis, rev in zip(result[1 + n_states:], shapes, proto.output[n_states:], out_axes,
                                        out_reverse):
        y = _stack(ta, shape, vi)
        if rev:
            y = tf.reverse(y, [0])
        rank = y.shape.rank
        if rank is not None:
            axis = axis + rank if axis < 0 else axis
            if axis:
                perm = list(range(1, rank))
                perm.insert(axis, 0)
                y = tf.transpose(y, perm)
        elif axis:
            raise ctx.unsupported("scan_output_axes needs scan outputs of known rank")
        scans.append(y)
    return [*finals, *scans]


@onnx_op("Scan", since=9)
def scan(ctx: Any) -> Any:
    m = ctx.attr("num_scan_inputs")
    n_states = len(ctx.inputs) - m
    states, inputs = list(ctx.inputs[:n_states]), list(ctx.inputs[n_states:])
    n_out = ctx.num_outputs - n_states
    return _scan(ctx, states, inputs,
                 list(ctx.attr("scan_input_axes", [0] * m)), list(ctx.attr("scan_input_directions", [0] * m)),
                 list(ctx.attr("scan_output_axes", [0] * n_out)),
                 list(ctx.attr("scan_output_directions", [0] * n_out)))


@onnx_op("Scan", since=8)
def scan_8(ctx: Any) -> Any:
    """Scan-8: every input has a leading batch axis and is scanned along axis 1, once per batch entry."""
    import numpy as np
    import tensorflow as tf

    m = ctx.attr("num_scan_inputs")
    n_states = len(ctx.inputs) - 1 - m
    states, inputs = list(ctx.inputs[1:1 + n_states]), list(ctx.inputs[1 + n_states:])
    if ctx.has_input(0):
        lens = ctx.const(0)
        steps = inputs[0].shape[1]
        if lens is None or steps is None or not np.all(np.asarray(lens) == steps):
            raise ctx.unsupported("sequence_lens shorter than the scanned axis is not supported")
    directions = list(ctx.attr("directions", [0] * m))
    n_out = ctx.num_outputs - n_states
    proto = ctx.subgraph_proto("body")
    out_types = [s.dtype for s in states] + _complete_types(
        _tensor_types(ctx, proto.output[n_states:], "body scan output"),
        lambda: ctx.subgraph("body")([*[s[0] for s in states], *[x[0, 0] for x in inputs]]), n_states)

    def one(elems: Any) -> Any:
        elems = list(elems)
        return _scan(ctx, elems[:n_states], elems[n_states:], [0] * m, directions, [0] * n_out, [0] * n_out)

    return list(tf.map_fn(one, [*states, *inputs], fn_output_signature=out_types))
