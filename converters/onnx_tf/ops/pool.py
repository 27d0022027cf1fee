"""Pooling: MaxPool (with Indices), AveragePool, LpPool, MaxUnpool and the global pools.

The common cases run on tf.nn.pool, channels-last: the window pools declare a ChannelsLast layout rule, so
their input arrives channels-last and their output leaves so. What tf.nn.pool refuses (strides larger than
the window, strides together with dilations, integer inputs, the Indices output) runs as one strided slice
per kernel tap, reduced elementwise, channels-first: exact for every ONNX attribute combination, and fine for
the small kernels involved. The global pools reduce whatever axes hold the spatial dims (layout ANY).
"""

from __future__ import annotations

import itertools
from typing import Any

from bridge_converters.onnx_tf.ops._common import (data_in, data_out, same_total, spatial_pads, static_shape,
                                                   to_channels_first, to_channels_last)
from bridge_converters.onnx_tf.ops.shape import dims, shape_vector
from bridge_converters.onnx_tf.passes.layout import ANY, POOL
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


class _Geometry:
    """Kernel, strides, dilations, explicit pads and the ceil_mode extension of one pooling node, for the
    channels-last input ``xl``."""

    def __init__(self, ctx: Any, xl: Any) -> None:
        import tensorflow as tf

        self.kernel = [int(k) for k in ctx.attr("kernel_shape")]
        n = len(self.kernel)
        self.strides = [int(s) for s in ctx.attr("strides", [1] * n)]
        self.dilations = [int(d) for d in ctx.attr("dilations", [1] * n)]
        self.in_spatial = static_shape(xl)[1:-1]
        # SAME_UPPER over unknown sizes: TF's own "SAME" padding is the same rule
        self.tf_same = ctx.attr("auto_pad", "NOTSET") == "SAME_UPPER" and None in self.in_spatial
        if self.tf_same:
            self.pads = [(0, 0)] * n
        else:
            self.pads = spatial_pads(ctx, self.in_spatial, self.kernel, self.strides, self.dilations)
        ceil = bool(ctx.attr("ceil_mode", 0))
        self.out: list[int | None] = []  # None where the size is only known at run time
        self.extra: list[Any] = []  # end padding beyond pads so that VALID windows give the ceil_mode count
        dynamic = tf.shape(xl)
        for i, (size, k, s, d, (b, e)) in enumerate(zip(self.in_spatial, self.kernel, self.strides, self.dilations,
                                                         self.pads)):
            eff = (k - 1) * d + 1
            if size is None and not ceil:
                self.out.append(None)
                self.extra.append(0)
                continue
            length = size if size is not None else dynamic[1 + i]
            total = length + b + e
            out = -(-(total - eff) // s) + 1 if ceil else (total - eff) // s + 1
            if ceil:  # the last window must start inside the input or its left pad
                out = out - 1 if size is not None and (out - 1) * s >= size + b else out
                if size is None:
                    out = tf.where((out - 1) * s >= length + b, out - 1, out)
            self.out.append(out if size is not None else None)
            extra = (out - 1) * s + eff - total
            self.extra.append(max(0, extra) if size is not None else tf.maximum(0, extra))

    @property
    def tf_pool_ok(self) -> bool:
        """Whether tf.nn.pool accepts this geometry."""
        if any(s > k for s, k in zip(self.strides, self.kernel)):
            return False
        return not (any(s > 1 for s in self.strides) and any(d > 1 for d in self.dilations))

    @property
    def pads_are_tf_same(self) -> bool:
        """Whether the explicit pads (with any ceil_mode extension) are what TF's SAME padding would add, so
        one SAME pool (TFLite's MAX_POOL_2D / AVERAGE_POOL_2D, no PAD, no size check) is exact: stride 1 at
        any size, or any stride over a static size; 1-D and 2-D windows without dilation."""
        if len(self.kernel) > 2 or any(d != 1 for d in self.dilations):
            return False
        for size, k, s, (b, e), x in zip(self.in_spatial, self.kernel, self.strides, self.pads, self.extra):
            total = same_total(size, k, s, 1)
            if total is None or not isinstance(x, int) or (b, e + x) != (total // 2, total - total // 2):
                return False
        return True

    @property
    def static(self) -> bool:
        return all(o is not None for o in self.out)

    def full_pads(self) -> list[list[int]]:
        """Channels-first pad spec: explicit pads plus the ceil_mode extension."""
        return [[0, 0], [0, 0], *[[b, e + x] for (b, e), x in zip(self.pads, self.extra)]]

    def taps(self, padded: Any) -> Any:
        """For each kernel tap (row-major), the strided slice of channels-first ``padded`` it reads."""
        import tensorflow as tf

        for offset in itertools.product(*[range(k) for k in self.kernel]):
            begin = [0, 0] + [o * d for o, d in zip(offset, self.dilations)]
            end = [0, 0] + [o * d + (n - 1) * s + 1
                            for o, d, n, s in zip(offset, self.dilations, self.out, self.strides)]
            yield offset, tf.strided_slice(padded, begin, end, [1, 1, *self.strides], begin_mask=3, end_mask=3)

    def valid_count(self, include_pad: bool) -> Any:
        """Per output position, how many taps read the input (or the explicit pads when ``include_pad``)."""
        import numpy as np

        counts = np.zeros(self.out, dtype=np.float64)
        per_axis = []
        for size, k, s, d, (b, e), n in zip(self.in_spatial, self.kernel, self.strides, self.dilations, self.pads,
                                              self.out):
            lo, hi = (-b, size + e) if include_pad else (0, size)
            pos = np.arange(n)[:, None] * s + np.arange(k)[None, :] * d - b
            per_axis.append(((pos >= lo) & (pos < hi)).sum(axis=1))
        counts[...] = 1
        for i, c in enumerate(per_axis):
            counts = counts * c.reshape([-1 if j == i else 1 for j in range(len(per_axis))])
        return counts


def _any_padding(pads: list[list[Any]]) -> bool:
    """Whether a pad spec pads at all; a run-time amount (a tensor) counts as padding."""
    return any(not isinstance(v, int) or v != 0 for pair in pads for v in pair)


def _pad_value(dtype: Any) -> Any:
    return -float("inf") if dtype.is_floating else dtype.min


def _max_by_taps(g: _Geometry, x: Any, with_indices: bool, storage_order: int) -> Any:
    """Max over the kernel taps; with ``with_indices`` also ONNX's Indices: the flat position of the first
    maximum in the unpadded (N, C, *spatial) input, spatial axes row-major or (storage_order 1) column-major."""
    import tensorflow as tf

    padded = tf.pad(x, g.full_pads(), constant_values=tf.cast(_pad_value(x.dtype), x.dtype))
    if not with_indices:
        best = None
        for _, tap in g.taps(padded):
            best = tap if best is None else tf.maximum(best, tap)
        return best
    sizes = [int(v) for v in g.in_spatial]
    rank = len(sizes)
    shape = tf.shape(x, out_type=tf.int64)
    base = (tf.range(shape[0])[:, None] * shape[1] + tf.range(shape[1])[None, :]) * _prod(sizes)
    base = tf.reshape(base, [shape[0], shape[1]] + [1] * rank)
    steps = [_prod(sizes[i + 1:]) if not storage_order else _prod(sizes[:i]) for i in range(rank)]
    best = best_idx = best_valid = None
    for offset, tap in g.taps(padded):
        flat: Any = 0
        valid: Any = True
        for i, (n, s, o, d, (b, _)) in enumerate(zip(g.out, g.strides, offset, g.dilations, g.pads)):
            coord = tf.range(n, dtype=tf.int64) * s + o * d - b  # input position of this tap, per output
            axis_shape = [1, 1] + [-1 if j == i else 1 for j in range(rank)]
            flat = flat + tf.reshape(coord * steps[i], axis_shape)
            inside = tf.reshape((coord >= 0) & (coord < sizes[i]), axis_shape)
            valid = inside if valid is True else valid & inside
        idx = tf.broadcast_to(base + flat, tf.shape(tap))
        valid = tf.broadcast_to(valid, tf.shape(tap))
        if best is None:
            best, best_idx, best_valid = tap, idx, valid
            continue
        # a later tap wins only if strictly greater (the first maximum is kept), or if the kept one was padding
        take = valid & ((tap > best) | ~best_valid)
        best = tf.where(take, tap, best)
        best_idx = tf.where(take, idx, best_idx)
        best_valid = best_valid | valid
    return best, best_idx


def _prod(values: list[int]) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def _sum_by_taps(g: _Geometry, x: Any) -> Any:
    import tensorflow as tf

    padded = tf.pad(x, g.full_pads())
    return tf.add_n([tap for _, tap in g.taps(padded)])


def _pool3d_as_2d(xl: Any, kernel: list[int], mode: str, strides: list[int]) -> Any:
    """A VALID 3-D pool as two 2-D pools (H, W first, then D): TFLite has no builtin 3-D pooling, so a
    MaxPool3D would need the Flex delegate. A max of maxes is the max and, the windows being equal in size,
    a mean of means is the mean."""
    import tensorflow as tf

    n, d, h, w, c = dims(xl)
    planes = tf.nn.pool(tf.reshape(xl, shape_vector([-1, h, w, c])), kernel[1:], mode, strides=strides[1:],
                        padding="VALID")
    _, h2, w2, _ = dims(planes)
    depth = tf.reshape(planes, shape_vector([n, d, h2 * w2, c]))
    pooled = tf.nn.pool(depth, [kernel[0], 1], mode, strides=[strides[0], 1], padding="VALID")
    return tf.reshape(pooled, shape_vector([n, dims(pooled)[1], h2, w2, c]))


def _valid_pool(xl: Any, kernel: list[int], mode: str, strides: list[int], dilations: list[int]) -> Any:
    """tf.nn.pool with VALID padding, except that a window larger than the (padded) input gives an empty
    output, as in ONNX Runtime, instead of TF's kernel dividing by zero (SIGFPE) on that geometry."""
    import tensorflow as tf

    def pool() -> Any:
        if len(kernel) == 3 and all(d == 1 for d in dilations):
            return _pool3d_as_2d(xl, kernel, mode, strides)
        return tf.nn.pool(xl, kernel, mode, strides=strides, dilations=dilations, padding="VALID")

    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    spatial = xl.shape.as_list()[1:-1]
    if all(d is not None for d in spatial):
        if all(d >= e for d, e in zip(spatial, eff)):
            return pool()
        out = [max(0, (d - e) // s + 1) for d, e, s in zip(spatial, eff, strides)]
        return tf.zeros(tf.stack([tf.shape(xl)[0], *out, tf.shape(xl)[-1]]), xl.dtype)
    shape = tf.shape(xl)
    sizes = [shape[i + 1] for i in range(len(kernel))]
    fits = tf.reduce_all(tf.stack([s >= e for s, e in zip(sizes, eff)]))
    out = [tf.maximum(0, (s - e) // st + 1) for s, e, st in zip(sizes, eff, strides)]
    return tf.cond(fits, pool, lambda: tf.zeros(tf.stack([shape[0], *out, shape[-1]]), xl.dtype))


@onnx_op("MaxPool", since=1, layout=POOL)
def max_pool(ctx: Any) -> Any:
    import tensorflow as tf

    xl = data_in(ctx)
    with_indices = ctx.output_used(1)
    if xl.dtype in (tf.int8, tf.uint8, tf.int16, tf.uint16) and not with_indices:
        # exact in float32, where tf.nn.pool (TFLite's MAX_POOL_2D) takes it; an 8-bit max pool sits
        # between the QLinear ops of ONNX Runtime's quantized models
        return tf.cast(_max_pool(ctx, tf.cast(xl, tf.float32), False), xl.dtype)
    return _max_pool(ctx, xl, with_indices)


def _max_pool(ctx: Any, xl: Any, with_indices: bool) -> Any:
    import tensorflow as tf

    g = _Geometry(ctx, xl)
    if (g.tf_same or g.pads_are_tf_same) and g.tf_pool_ok and xl.dtype.is_floating and not with_indices:
        return data_out(ctx, tf.nn.pool(xl, g.kernel, "MAX", strides=g.strides, dilations=g.dilations, padding="SAME"))
    if g.tf_same:
        raise ctx.unsupported("auto_pad SAME_UPPER over unknown spatial sizes with this geometry")
    if with_indices or not g.tf_pool_ok or not xl.dtype.is_floating:
        if not g.static or (with_indices and any(v is None for v in static_shape(xl)[1:])):
            raise ctx.unsupported("this MaxPool geometry (or its Indices output) needs static spatial sizes")
        pooled = _max_by_taps(g, to_channels_first(xl), with_indices, int(ctx.attr("storage_order", 0)))
        if with_indices:
            return [data_out(ctx, to_channels_last(pooled[0])), pooled[1]]
        return data_out(ctx, to_channels_last(pooled))
    full = [[0, 0], *g.full_pads()[2:], [0, 0]]
    if _any_padding(full):
        xl = tf.pad(xl, full, constant_values=tf.cast(_pad_value(xl.dtype), xl.dtype))
    return data_out(ctx, _valid_pool(xl, g.kernel, "MAX", g.strides, g.dilations))


@onnx_op("AveragePool", since=1, layout=POOL)
def average_pool(ctx: Any) -> Any:
    import tensorflow as tf

    xl = data_in(ctx)
    g = _Geometry(ctx, xl)
    include_pad = bool(ctx.attr("count_include_pad", 0))
    # TF's SAME average also leaves the padding out of the count
    if (g.tf_same or g.pads_are_tf_same) and g.tf_pool_ok and not include_pad:
        return data_out(ctx, tf.nn.pool(xl, g.kernel, "AVG", strides=g.strides, dilations=g.dilations, padding="SAME"))
    if g.tf_same:
        raise ctx.unsupported("auto_pad SAME_UPPER over unknown spatial sizes with this geometry")
    padded = _any_padding(g.full_pads())
    if not g.tf_pool_ok:
        if not g.static:
            raise ctx.unsupported("strides larger than the window or with dilations need static spatial sizes")
        mean = _sum_by_taps(g, to_channels_first(xl)) / tf.constant(g.valid_count(include_pad), xl.dtype)
        return data_out(ctx, to_channels_last(mean))
    full = [[0, 0], *g.full_pads()[2:], [0, 0]]
    mean = _valid_pool(tf.pad(xl, full) if padded else xl, g.kernel, "AVG", g.strides, g.dilations)
    if not padded:
        return data_out(ctx, mean)
    # tf averages over the whole window; rescale to ONNX's count of the taps that read real data (or pads)
    if g.static:
        rescale = _prod(g.kernel) / g.valid_count(include_pad)
        return data_out(ctx, mean * tf.constant(rescale[..., None], xl.dtype))
    ones = tf.ones_like(xl[..., :1])
    if include_pad:
        ones = tf.pad(ones, [[0, 0], *[[b, e] for b, e in g.pads], [0, 0]], constant_values=1.0)
        mask = tf.pad(ones, [[0, 0], *[[0, e] for e in g.extra], [0, 0]])
    else:
        mask = tf.pad(ones, full)
    fraction = _valid_pool(mask, g.kernel, "AVG", g.strides, g.dilations)
    return data_out(ctx, mean / fraction)


@onnx_op("LpPool", since=1, layout=POOL)
def lp_pool(ctx: Any) -> Any:
    import tensorflow as tf

    xl = data_in(ctx)
    g = _Geometry(ctx, xl)
    p = float(ctx.attr("p", 2))
    if g.tf_same:
        raise ctx.unsupported("auto_pad SAME_UPPER over unknown spatial sizes")
    powered = tf.pow(tf.abs(xl), tf.cast(p, xl.dtype))
    if g.tf_pool_ok:
        mean = _valid_pool(tf.pad(powered, [[0, 0], *g.full_pads()[2:], [0, 0]]), g.kernel, "AVG", g.strides,
                           g.dilations)
        summed = mean * tf.cast(_prod(g.kernel), xl.dtype)
    else:
        if not g.static:
            raise ctx.unsupported("strides larger than the window or with dilations need static spatial sizes")
        summed = to_channels_last(_sum_by_taps(g, to_channels_first(powered)))
    return data_out(ctx, tf.pow(summed, tf.cast(1.0 / p, xl.dtype)))


@onnx_op("MaxUnpool", since=9)
def max_unpool(ctx: Any) -> Any:
    import tensorflow as tf

    x, indices = ctx.inputs[0], ctx.inputs[1]
    kernel = [int(k) for k in ctx.attr("kernel_shape")]
    n = len(kernel)
    strides = list(ctx.attr("strides", [1] * n))
    pads = list(ctx.attr("pads", [0] * (2 * n)))
    x_shape = tf.shape(x, out_type=tf.int64)
    inferred = [x_shape[0], x_shape[1]] + [(x_shape[2 + i] - 1) * strides[i] - (pads[i] + pads[i + n]) + kernel[i]
                                           for i in range(n)]
    inferred = tf.stack(inferred)
    # indices address the flattened (N, C, *inferred spatial) output, as MaxPool produced them
    flat = tf.scatter_nd(tf.reshape(tf.cast(indices, tf.int64), [-1, 1]), tf.reshape(x, [-1]),
                         tf.reduce_prod(inferred)[tf.newaxis])
    y = tf.reshape(flat, inferred)
    if ctx.has_input(2):  # a larger requested output keeps the unpooled block at the start of each axis
        target = tf.cast(ctx.inputs[2], tf.int64)
        y = tf.pad(y, tf.stack([tf.zeros_like(target), target - inferred], axis=1))
    return y


def _spatial_axes(ctx: Any) -> list[int]:
    """Where the spatial axes (ONNX 2, 3, ...) of input 0 are in the tensor the handler holds."""
    return [ctx.physical_axis(a) for a in range(2, ctx.inputs[0].shape.rank)]


@onnx_op("GlobalAveragePool", since=1, layout=ANY)
def global_average_pool(ctx: Any) -> Any:
    import tensorflow as tf

    return tf.reduce_mean(ctx.inputs[0], axis=_spatial_axes(ctx), keepdims=True)


@onnx_op("GlobalMaxPool", since=1, layout=ANY)
def global_max_pool(ctx: Any) -> Any:
    import tensorflow as tf

    return tf.reduce_max(ctx.inputs[0], axis=_spatial_axes(ctx), keepdims=True)


@onnx_op("GlobalLpPool", since=1, layout=ANY)
def global_lp_pool(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]
    p = float(ctx.attr("p", 2))
    summed = tf.reduce_sum(tf.pow(tf.abs(x), tf.cast(p, x.dtype)), axis=_spatial_axes(ctx), keepdims=True)
    return tf.pow(summed, tf.cast(1.0 / p, x.dtype))
