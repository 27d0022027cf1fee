"""Shape manipulation: Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Expand, Transpose, Concat, Tile,
Range, DepthToSpace, SpaceToDepth."""

from __future__ import annotations

import math
from typing import Any

from bridge_converters.onnx_tf.ops._common import data_in, data_out, norm_axis, permute
from bridge_converters.onnx_tf.passes.layout import RESHAPE, SHAPE, SPACE_DEPTH, TRANSPOSE
from bridge_converters.onnx_tf.passes.layout_axes import CONCAT, EXPAND, TILE
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


def dims(x: Any) -> list[Any]:
    """Each dimension of ``x``: a Python int where static, an int64 scalar tensor where not."""
    import tensorflow as tf

    static = x.shape.as_list()
    if all(d is not None for d in static):
        return static
    dynamic = tf.shape(x, out_type=tf.int64)
    return [d if d is not None else dynamic[i] for i, d in enumerate(static)]


def shape_vector(values: list[Any]) -> Any:
    """A 1-D int64 shape from a mix of Python ints and scalar tensors (a constant when all are ints)."""
    import tensorflow as tf

    if all(isinstance(v, int) for v in values):
        return tf.constant(values, tf.int64)
    return tf.stack([tf.cast(v, tf.int64) for v in values])


def const_axes(ctx: Any, input_index: int | None, attr: str = "axes") -> list[int] | None:
    """Axes from the ``axes`` attribute (older opsets) or a constant input; None when absent."""
    if input_index is not None and ctx.has_input(input_index):
        value = ctx.const(input_index)
        if value is None:
            raise ctx.unsupported("axes must be a constant")  # callers that allow dynamic axes don't call this
        return [int(a) for a in value.reshape(-1)]
    value = ctx.attr(attr)
    return None if value is None else [int(a) for a in value]


@onnx_op("Shape", since=1, layout=SHAPE)
def shape(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    rank = x.shape.rank
    if rank is None:  # ONNX clamps start/end exactly like a Python slice of the shape vector
        return tf.shape(x, out_type=tf.int64)[ctx.attr("start"):ctx.attr("end")]
    start, end = ctx.attr("start", 0), ctx.attr("end", rank)
    start, end = (min(max(norm_axis(v, rank), 0), rank) for v in (start, end))
    static = x.shape.as_list()[start:end]
    if all(d is not None for d in static):
        return tf.constant(static, tf.int64, shape=[len(static)])
    return tf.shape(x, out_type=tf.int64)[start:max(start, end)]


@onnx_op("Size", since=1, layout=SHAPE)
def size(ctx: Any) -> Any:
    import tensorflow as tf

    return tf.size(ctx.inputs[0], out_type=tf.int64)


def _reshape(ctx: Any, x: Any, target: Any, dynamic_target: Any) -> Any:
    import tensorflow as tf

    allowzero = bool(ctx.attr("allowzero", 0))
    if target is not None:
        target = [int(d) for d in target]
        if not allowzero and 0 in target:
            in_dims = dims(x)
            target = [in_dims[i] if d == 0 else d for i, d in enumerate(target)]
        if all(isinstance(d, int) for d in target):
            return tf.reshape(x, target)
        return tf.reshape(x, shape_vector(target))
    known = _partial_target(ctx, x, allowzero)
    if known is not None:
        return tf.reshape(x, shape_vector(known))
    shape_t = tf.cast(dynamic_target, tf.int64)
    if not allowzero:
        in_shape = tf.shape(x, out_type=tf.int64)
        n = tf.size(shape_t, out_type=tf.int64)
        extra = tf.maximum(tf.constant(0, tf.int64), n - tf.size(in_shape, out_type=tf.int64))
        padded = tf.pad(in_shape, [[0, extra]])[:n]
        shape_t = tf.where(tf.equal(shape_t, 0), padded, shape_t)
    inferred = ctx.inferred_dims()
    if inferred and any(isinstance(d, int) for d in inferred):
        # the dims ONNX inference knows become constants of the shape vector, so TF (and TFLite's converter,
        # which never sees set_shape) knows them: a convolution after a run-time reshape stays a builtin
        shape_t = shape_vector([d if isinstance(d, int) else shape_t[i] for i, d in enumerate(inferred)])
    return tf.reshape(x, shape_t)


def _partial_target(ctx: Any, x: Any, allowzero: bool) -> list[Any] | None:
    """A run-time Reshape target from what is known of it (``ctx.partial``, ONNX inference's dims): known
    entries as ints (0 copies the input's dim unless ``allowzero``), the input's own run-time dims as its
    ``tf.shape`` entries, and one entry left unknown as -1; a target with one run-time entry becomes all
    constant, with -1 there. None when more than one entry stays unknown."""
    from bridge_converters.onnx_tf.passes.shape_values import is_dim_of

    partial, data = ctx.partial(1), ctx.node.input[0]
    if partial is None or partial.scalar:
        return None
    in_dims, inferred = dims(x), ctx.inferred_dims() or []
    target: list[Any] = []
    for i, e in enumerate(partial.entries):
        if e == -1 and i < len(inferred) and isinstance(inferred[i], int):
            target.append(inferred[i])
        elif isinstance(e, int) and (e != 0 or allowzero):
            target.append(e)
        elif isinstance(e, int) and i < len(in_dims):
            target.append(in_dims[i])
        elif is_dim_of(e, data) and e.axis < len(in_dims):  # type: ignore[union-attr]
            target.append(in_dims[e.axis])  # type: ignore[union-attr]
        elif i < len(inferred) and isinstance(inferred[i], int):
            target.append(inferred[i])
        else:
            target.append(None)
    unknown = [i for i, t in enumerate(target) if t is None]
    runtime = [i for i, t in enumerate(target) if not isinstance(t, int)]  # unknown or a tf.shape entry
    inferring = [i for i, t in enumerate(target) if isinstance(t, int) and t == -1]
    if len(inferring) == 1 and not unknown:
        # x.view(batch, -1, c): the run-time entries are dims of x itself, so they cancel out of the -1
        passed = [e.axis for e in partial.entries if is_dim_of(e, data)]  # type: ignore[union-attr]
        rest = [d for a, d in enumerate(in_dims) if a not in passed]
        fixed = [t for t in target if isinstance(t, int) and t != -1]
        if len(passed) == len(set(passed)) == len(runtime) and all(isinstance(d, int) for d in rest):
            whole, part = math.prod(rest), math.prod(fixed)
            if part and whole % part == 0:
                target[inferring[0]], inferring = whole // part, []
    if len(unknown) + len(inferring) > 1:
        return None
    if unknown or (len(runtime) == 1 and not inferring):  # reshape infers the one -1
        target[(unknown or runtime)[0]] = -1
    return target


@onnx_op("Reshape", since=1, layout=RESHAPE)
def reshape_v1(ctx: Any) -> Any:
    return _reshape(ctx, ctx.inputs[0], ctx.attr("shape"), None)


@onnx_op("Reshape", since=5, layout=RESHAPE)
def reshape(ctx: Any) -> Any:
    return _reshape(ctx, ctx.inputs[0], ctx.const(1), ctx.inputs[1])


@onnx_op("Flatten", since=1, layout=RESHAPE)
def flatten(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    rank = x.shape.rank
    axis = norm_axis(ctx.attr("axis", 1), rank)
    static = x.shape.as_list()
    if all(d is not None for d in static):
        outer, inner = 1, 1
        for d in static[:axis]:
            outer *= d
        for d in static[axis:]:
            inner *= d
        return tf.reshape(x, [outer, inner])
    shape_t = tf.shape(x, out_type=tf.int64)
    return tf.reshape(x, tf.stack([tf.reduce_prod(shape_t[:axis]), tf.reduce_prod(shape_t[axis:])]))


def _squeeze(ctx: Any, x: Any, axes: list[int] | None) -> Any:
    import tensorflow as tf

    if axes is None:
        static = x.shape.as_list()
        if any(d is None for d in static):
            return tf.squeeze(x)  # which dims are 1 is only known at run time
        axes = [i for i, d in enumerate(static) if d == 1]
    rank = x.shape.rank
    if rank is None:  # tf.squeeze resolves negative axes against the run-time rank itself
        return tf.squeeze(x, axes) if axes else x
    return tf.squeeze(x, [norm_axis(a, rank) for a in axes]) if axes else x


@onnx_op("Squeeze", since=1, layout=RESHAPE)
def squeeze_v1(ctx: Any) -> Any:
    return _squeeze(ctx, ctx.inputs[0], const_axes(ctx, None))


@onnx_op("Squeeze", since=13, layout=RESHAPE)
def squeeze(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    if not ctx.has_input(1) or ctx.const(1) is not None:
        return _squeeze(ctx, x, const_axes(ctx, 1))
    # Axes known only at run time: keep the dims not listed (the output rank is static if the axes length is).
    rank = x.shape.rank if x.shape.rank is not None else tf.cast(tf.rank(x), tf.int64)
    axes = tf.reshape(tf.cast(ctx.inputs[1], tf.int64), [-1])
    axes = tf.where(axes < 0, axes + rank, axes)
    keep = tf.reduce_all(tf.not_equal(tf.range(rank, dtype=tf.int64)[:, None], axes[None, :]), axis=1)
    new_shape = tf.boolean_mask(tf.shape(x, out_type=tf.int64), keep)
    n_axes = ctx.inputs[1].shape.num_elements()
    if n_axes is not None and x.shape.rank is not None:
        new_shape = tf.reshape(new_shape, [rank - n_axes])
    return tf.reshape(x, new_shape)


def _unsqueeze_static(x: Any, axes: list[int]) -> Any:
    import tensorflow as tf

    if x.shape.rank is None:
        if any(a < 0 for a in axes):  # the output rank is only known at run time
            return _unsqueeze_dynamic(x, tf.constant(axes, tf.int64), len(axes))
        for a in sorted(axes):  # ascending non-negative axes index the output directly
            x = tf.expand_dims(x, a)
        return x
    out_rank = x.shape.rank + len(axes)
    axes = sorted(norm_axis(a, out_rank) for a in axes)
    in_dims = dims(x)
    it = iter(in_dims)
    out = [1 if i in axes else next(it) for i in range(out_rank)]
    return tf.reshape(x, out if all(isinstance(d, int) for d in out) else shape_vector(out))


@onnx_op("Unsqueeze", since=1, layout=RESHAPE)
def unsqueeze_v1(ctx: Any) -> Any:
    return _unsqueeze_static(ctx.inputs[0], const_axes(ctx, None))


@onnx_op("Unsqueeze", since=13, layout=RESHAPE)
def unsqueeze(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    if ctx.const(1) is not None:
        return _unsqueeze_static(x, const_axes(ctx, 1))
    return _unsqueeze_dynamic(x, tf.reshape(tf.cast(ctx.inputs[1], tf.int64), [-1]), ctx.inputs[1].shape.num_elements())


def _unsqueeze_dynamic(x: Any, axes: Any, n_axes: int | None) -> Any:
    """Unsqueeze by an int64 axes vector; the input's rank may be known only at run time."""
    import tensorflow as tf

    rank = x.shape.rank if x.shape.rank is not None else tf.cast(tf.rank(x), tf.int64)
    out_rank = rank + (n_axes if n_axes is not None else tf.size(axes, out_type=tf.int64))
    axes = tf.where(axes < 0, axes + out_rank, axes)
    is_new = tf.reduce_any(tf.equal(tf.range(out_rank, dtype=tf.int64)[:, None], axes[None, :]), axis=1)
    # Output position j takes input dim (number of kept positions before j), or 1 where inserted.
    src = tf.cumsum(tf.cast(~is_new, tf.int64)) - 1
    in_shape = tf.concat([tf.shape(x, out_type=tf.int64), [1]], 0)
    new_shape = tf.where(is_new, tf.ones_like(src), tf.gather(in_shape, tf.clip_by_value(src, 0, rank)))
    return tf.reshape(x, new_shape)


@onnx_op("Expand", since=8, layout=EXPAND)
def expand(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    target = ctx.const(1)
    if target is not None and x.shape.is_fully_defined():
        import numpy as np

        out = np.broadcast_shapes(tuple(x.shape.as_list()), tuple(int(d) for d in target.reshape(-1)))
        return tf.broadcast_to(x, out)
    target_t = tf.cast(ctx.inputs[1], tf.int64)
    return tf.broadcast_to(x, tf.broadcast_dynamic_shape(tf.shape(x, out_type=tf.int64), target_t))


@onnx_op("Transpose", since=1, layout=TRANSPOSE)
def transpose(ctx: Any) -> Any:
    return permute(ctx.inputs[0], ctx.attr("perm"))


@onnx_op("Concat", since=1, layout=CONCAT)
def concat(ctx: Any) -> Any:
    import tensorflow as tf

    inputs = [t for t in ctx.inputs if t is not None]
    rank = inputs[0].shape.rank
    return tf.concat(inputs, axis=norm_axis(ctx.attr("axis", 1), rank))


@onnx_op("Tile", since=1)
def tile_v1(ctx: Any) -> Any:
    import tensorflow as tf

    # Tile-1 repeats one axis: inputs (input, tiles, axis) as scalars.
    x = ctx.inputs[0]
    rank = x.shape.rank
    tiles = tf.reshape(tf.cast(ctx.inputs[1], tf.int64), [])
    axis = tf.reshape(tf.cast(ctx.inputs[2], tf.int64), [])
    multiples = tf.where(tf.equal(tf.range(rank, dtype=tf.int64), axis), tiles, tf.ones([rank], tf.int64))
    return tf.tile(x, multiples)


@onnx_op("Tile", since=6, layout=TILE)
def tile(ctx: Any) -> Any:
    import tensorflow as tf

    repeats = ctx.const(1)
    if repeats is not None:
        return tf.tile(ctx.inputs[0], [int(r) for r in repeats.reshape(-1)])
    return tf.tile(ctx.inputs[0], tf.cast(ctx.inputs[1], tf.int64))


@onnx_op("Range", since=11)
def range_(ctx: Any) -> Any:
    import tensorflow as tf

    start, limit, delta = (tf.reshape(t, []) for t in ctx.inputs[:3])
    dtype = start.dtype
    # Element i is start + i * delta like numpy.arange (tf.range accumulates, drifts on long float ranges,
    # and rejects a delta pointing away from limit where ONNX gives an empty range).
    if dtype.is_integer:
        s, lim, d = (tf.cast(v, tf.int64) for v in (start, limit, delta))
        step = ctx.const(2)
        if step is not None and abs(int(step.reshape(-1)[0])) == 1:  # no division: TFLite has no int64 one
            n = tf.maximum((lim - s) * int(step.reshape(-1)[0]), 0)
        else:
            n = tf.maximum(-tf.math.floordiv(s - lim, d), 0)  # ceil((limit - start) / delta), exactly
        return tf.cast(s + tf.range(n) * d, dtype)
    # float16/bfloat16 work in float32 unless stash_type (opset 27) says otherwise.
    stash = ctx.attr("stash_type", 1) == 1
    work = tf.float32 if stash and dtype in (tf.float16, tf.bfloat16) else dtype
    s, lim, d = (tf.cast(v, work) for v in (start, limit, delta))
    n = tf.cast(tf.maximum(tf.math.ceil((lim - s) / d), 0), tf.int64)
    return tf.cast(s + tf.cast(tf.range(n), work) * d, dtype)


def _space_depth(ctx: Any, to_space: bool) -> Any:
    """DepthToSpace/SpaceToDepth channels-last, where DCR is TF's own depth_to_space/space_to_depth (TFLite
    builtins) and CRD a reshape, transpose and reshape."""
    import tensorflow as tf

    x = data_in(ctx)
    bs = int(ctx.attr("blocksize"))
    crd = ctx.attr("mode", "DCR") == "CRD"
    if not crd:
        return data_out(ctx, tf.nn.depth_to_space(x, bs) if to_space else tf.nn.space_to_depth(x, bs))
    b, h, w, c = dims(x)
    if to_space:
        tmp = tf.transpose(tf.reshape(x, shape_vector([b, h, w, c // bs ** 2, bs, bs])), [0, 1, 4, 2, 5, 3])
        return data_out(ctx, tf.reshape(tmp, shape_vector([b, h * bs, w * bs, c // bs ** 2])))
    tmp = tf.transpose(tf.reshape(x, shape_vector([b, h // bs, bs, w // bs, bs, c])), [0, 1, 3, 5, 2, 4])
    return data_out(ctx, tf.reshape(tmp, shape_vector([b, h // bs, w // bs, c * bs * bs])))


@onnx_op("DepthToSpace", since=1, layout=SPACE_DEPTH)
def depth_to_space(ctx: Any) -> Any:
    return _space_depth(ctx, to_space=True)


@onnx_op("SpaceToDepth", since=1, layout=SPACE_DEPTH)
def space_to_depth(ctx: Any) -> Any:
    return _space_depth(ctx, to_space=False)
