"""Layers that move data without arithmetic: Input, Concat, Slice, Split, Flatten, Reshape, Permute, Crop,
ShuffleChannel. Shapes are static (from the prototxt), so every target shape is a constant."""

from __future__ import annotations

import math
from typing import Any

from bridge_converters.caffe_onnx.layers._util import int64, reshape
from bridge_converters.caffe_onnx.registry import caffe_layer


@caffe_layer("Input")
def input_layer(ctx: Any) -> None:
    for i, top in enumerate(ctx.layer.tops):  # declared as graph inputs when the net was read
        ctx.tops_written[i] = ctx.b.current[top]


@caffe_layer("Concat")
def concat(ctx: Any) -> None:
    ctx.expect_tops(1)
    p = ctx.param("concat_param")
    shapes = [ctx.bottom_shape(i) for i in range(len(ctx.layer.bottoms))]
    if not shapes:
        raise ctx.fail("has no bottoms")
    rank = len(shapes[0])
    axis = ctx.axis(p.axis, rank) if p.HasField("axis") or not p.HasField("concat_dim") else int(p.concat_dim)
    if axis >= rank:
        raise ctx.fail(f"concat_dim {axis} is out of range for {rank}-d bottoms")
    for s in shapes:
        if len(s) != rank or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != axis):
            raise ctx.fail(f"bottoms {[list(s) for s in shapes]} differ off axis {axis}")
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    inputs = ctx.bottoms()
    if len(inputs) == 1:
        ctx.top(0, "Identity", inputs)
    else:
        ctx.top(0, "Concat", inputs, tuple(out), axis=axis)


@caffe_layer("Slice")
def slice_layer(ctx: Any) -> None:
    ctx.expect_bottoms(1)
    p = ctx.param("slice_param")
    shape = ctx.bottom_shape(0)
    axis = ctx.axis(p.axis, len(shape)) if p.HasField("axis") or not p.HasField("slice_dim") else int(p.slice_dim)
    if axis >= len(shape):
        raise ctx.fail(f"slice_dim {axis} is out of range for a {len(shape)}-d bottom")
    count, size = len(ctx.layer.tops), shape[axis]
    points = [int(v) for v in p.slice_point]
    if points:
        if len(points) != count - 1 or points != sorted(points) or points[0] <= 0 or points[-1] >= size:
            raise ctx.fail(f"has slice_point {points} for {count} tops over a size of {size}")
        sizes = [b - a for a, b in zip([0, *points], [*points, size])]
    else:
        if size % count:
            raise ctx.fail(f"cannot split a size of {size} evenly into {count} tops")
        sizes = [size // count] * count
    shapes = [tuple(s if i == axis else d for i, d in enumerate(shape)) for s in sizes]
    if count == 1:
        ctx.top(0, "Identity", [ctx.bottom(0)])
        return
    ctx.tops("Split", [ctx.bottom(0), int64(ctx, sizes, "split")], shapes, axis=axis)


@caffe_layer("Split")
def split(ctx: Any) -> None:
    ctx.expect_bottoms(1)
    for i in range(len(ctx.layer.tops)):
        ctx.top(i, "Identity", [ctx.bottom(0)])


@caffe_layer("Flatten")
def flatten(ctx: Any) -> None:
    ctx.expect_bottoms(1)
    p = ctx.param("flatten_param")
    shape = ctx.bottom_shape(0)
    start, end = ctx.axis(p.axis, len(shape)), ctx.axis(p.end_axis, len(shape))
    if end < start:
        raise ctx.fail(f"has end_axis {p.end_axis} before axis {p.axis}")
    reshape(ctx, ctx.bottom(0), (*shape[:start], math.prod(shape[start:end + 1]), *shape[end + 1:]), top=0)


@caffe_layer("Reshape")
def reshape_layer(ctx: Any) -> None:
    """Caffe's Reshape: 0 copies the bottom's dim, -1 is inferred; ``axis``/``num_axes`` pick the span."""
    ctx.expect_bottoms(1)
    p = ctx.param("reshape_param")
    shape = ctx.bottom_shape(0)
    rank = len(shape)
    start = int(p.axis) if p.axis >= 0 else rank + int(p.axis) + 1
    end = rank if p.num_axes == -1 else start + int(p.num_axes)
    if not 0 <= start <= rank or not start <= end <= rank:
        raise ctx.fail(f"has axis {p.axis} and num_axes {p.num_axes} for a {rank}-d bottom")
    dims = [int(d) for d in p.shape.dim]
    new = []
    for i, d in enumerate(dims):
        if d == 0:
            if start + i >= rank:
                raise ctx.fail(f"copies dim {start + i} (a 0 in its shape), which the bottom lacks")
            new.append(shape[start + i])
        elif d < -1:
            raise ctx.fail(f"has dim {d} in its shape")
        else:
            new.append(d)
    out = [*shape[:start], *new, *shape[end:]]
    if out.count(-1) > 1:
        raise ctx.fail("has more than one -1 in its shape")
    known = math.prod(d for d in out if d != -1)
    total = math.prod(shape)
    if -1 in out:
        if known == 0 or total % known:
            raise ctx.fail(f"cannot infer the -1 of {out} from a bottom of {list(shape)}")
        out[out.index(-1)] = total // known
    if math.prod(out) != total:
        raise ctx.fail(f"reshapes {list(shape)} ({total} values) to {out}")
    reshape(ctx, ctx.bottom(0), out, top=0)


@caffe_layer("Permute")
def permute(ctx: Any) -> None:
    """SSD's Permute: the listed axes first, then the rest in order."""
    ctx.expect_bottoms(1)
    shape = ctx.bottom_shape(0)
    order = [int(a) for a in ctx.param("permute_param").order]
    if len(set(order)) != len(order) or any(a >= len(shape) for a in order):
        raise ctx.fail(f"has order {order} for a {len(shape)}-d bottom")
    perm = order + [a for a in range(len(shape)) if a not in order]
    ctx.top(0, "Transpose", [ctx.bottom(0)], tuple(shape[a] for a in perm), perm=perm)


@caffe_layer("Crop")
def crop(ctx: Any) -> None:
    """Crop bottom 0 to bottom 1's shape from ``axis`` on, at ``offset`` (one for all, or one per axis)."""
    ctx.expect_bottoms(2)
    p = ctx.param("crop_param")
    shape, ref = ctx.bottom_shape(0), ctx.bottom_shape(1)
    if len(shape) != len(ref):
        raise ctx.fail(f"crops a {len(shape)}-d bottom to a {len(ref)}-d reference")
    axis = ctx.axis(p.axis, len(shape))
    offsets = [int(o) for o in p.offset]
    if len(offsets) not in (0, 1, len(shape) - axis):
        raise ctx.fail(f"has {len(offsets)} offsets for {len(shape) - axis} cropped axes")
    starts, ends, axes, out = [], [], [], list(shape)
    for i in range(axis, len(shape)):
        off = offsets[0] if len(offsets) == 1 else offsets[i - axis] if offsets else 0
        if off + ref[i] > shape[i]:
            raise ctx.fail(f"crops axis {i} at offset {off} to {ref[i]}, past the bottom's {shape[i]}")
        if off != 0 or ref[i] != shape[i]:
            starts.append(off)
            ends.append(off + ref[i])
            axes.append(i)
        out[i] = ref[i]
    if not axes:
        ctx.top(0, "Identity", [ctx.bottom(0)])
        return
    ctx.top(0, "Slice", [ctx.bottom(0), int64(ctx, starts, "starts"), int64(ctx, ends, "ends"),
                         int64(ctx, axes, "axes")], tuple(out))


@caffe_layer("ShuffleChannel")
def shuffle_channel(ctx: Any) -> None:
    """ShuffleNet's channel shuffle: channels as (group, C/group), transposed, flattened back."""
    ctx.expect_bottoms(1)
    shape = ctx.bottom_shape(0)
    group = int(ctx.param("shuffle_channel_param").group)
    if len(shape) < 2 or group <= 0 or shape[1] % group:
        raise ctx.fail(f"cannot split {shape[1] if len(shape) > 1 else 0} channels into {group} groups")
    n, c, rest = shape[0], shape[1], tuple(shape[2:])
    grouped = reshape(ctx, ctx.bottom(0), (n, group, c // group, *rest), what="grouped")
    perm = [0, 2, 1, *range(3, 3 + len(rest))]
    swapped = ctx.node("Transpose", [grouped], (n, c // group, group, *rest), "swap", perm=perm)
    reshape(ctx, swapped, shape, top=0)
