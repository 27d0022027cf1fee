"""Sampling at computed coordinates: GridSample, AffineGrid, RoiAlign (part of the resize family).

GridSample gathers, for every output point, the 1 (nearest), 2^n (linear) or 4^n (cubic) neighbouring input
pixels from the flattened spatial axes and sums them weighted, with ONNX's padding_mode rules per axis.
"""

from __future__ import annotations

import itertools
from typing import Any

from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []

_CUBIC_A = -0.75


def _reflect(x: Any, lo: float, hi: float) -> Any:
    """Reflect ``x`` by the borders [lo, hi] until it lies inside (float)."""
    import tensorflow as tf

    span = hi - lo
    if span <= 0:
        return tf.fill(tf.shape(x), tf.cast(lo, x.dtype))
    below = lo - x
    n_b = tf.floor(below / span)
    r_b = below - n_b * span
    from_below = tf.where(tf.equal(tf.math.floormod(n_b, 2.0), 0.0), lo + r_b, hi - r_b)
    above = x - hi
    n_a = tf.floor(above / span)
    r_a = above - n_a * span
    from_above = tf.where(tf.equal(tf.math.floormod(n_a, 2.0), 0.0), hi - r_a, lo + r_a)
    return tf.where(x < lo, from_below, tf.where(x > hi, from_above, x))


def _product(values: list[int]) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def _cubic_weights(t: Any) -> list[Any]:
    a = _CUBIC_A
    s = 1 - t
    return [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
            ((a + 2) * t - (a + 3)) * t * t + 1,
            ((a + 2) * s - (a + 3)) * s * s + 1,
            ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a]


def _grid_sample(ctx: Any, mode: str) -> Any:
    import tensorflow as tf

    x, grid = ctx.inputs[0], ctx.inputs[1]
    padding = ctx.attr("padding_mode", "zeros")
    align = bool(ctx.attr("align_corners", 0))
    dims = x.shape.as_list()[2:]
    if any(d is None for d in dims):
        raise ctx.unsupported("GridSample needs static spatial sizes of X")
    n = len(dims)
    f = tf.float64
    # grid's last axis lists coordinates innermost axis first (x = width)
    coords = []
    for i, d in enumerate(dims):
        g = tf.cast(grid[..., n - 1 - i], f)
        c = (g + 1) / 2 * (d - 1) if align else ((g + 1) * d - 1) / 2
        coords.append(tf.cast(tf.cast(c, tf.float32), f))  # the reference keeps float32 coordinates
    if mode == "nearest":
        coords = [tf.round(c) for c in coords]  # half to even, as PyTorch
    lo_hi = [(0.0, d - 1.0) if align else (-0.5, d - 0.5) for d in dims]
    for i, d in enumerate(dims):
        if padding == "border":  # only points beyond the borders move; pixel() clamps the taps
            lo, hi = lo_hi[i]
            outside = (coords[i] < lo) | (coords[i] > hi)
            coords[i] = tf.where(outside, tf.clip_by_value(coords[i], 0.0, d - 1.0), coords[i])
        elif padding == "reflection":
            coords[i] = tf.cast(tf.cast(_reflect(coords[i], *lo_hi[i]), tf.float32), f)

    def pixel(i: int, idx: Any) -> tuple[Any, Any]:
        """Clamped index along axis i and whether it reads inside (zeros padding)."""
        d = dims[i]
        if padding == "reflection":
            idx = tf.cast(_reflect(tf.cast(idx, f), *lo_hi[i]), tf.int64)  # truncates, as int() does
        valid = (idx >= 0) & (idx < d)
        return tf.clip_by_value(idx, 0, d - 1), valid  # border: the clamp; zeros: masked by valid

    # per axis: list of (index, weight) taps
    taps: list[list[tuple[Any, Any]]] = []
    for i, c in enumerate(coords):
        if mode == "nearest":
            taps.append([(tf.cast(c, tf.int64), tf.ones_like(c))])  # trunc, as astype(int32)
            continue
        base = tf.floor(c)
        t = c - base
        b = tf.cast(base, tf.int64)
        if mode == "linear":
            taps.append([(b, 1 - t), (b + 1, t)])
        else:
            taps.append([(b + k - 1, w) for k, w in enumerate(_cubic_weights(t))])

    shape = tf.shape(x)
    work = tf.float64 if x.dtype == tf.float64 else tf.float32
    # (N, C, *dims) -> (N, prod(dims), C): one batched gather per tap combination picks every channel
    flat = tf.transpose(tf.reshape(tf.cast(x, work), tf.concat([shape[:2], [-1]], 0)), [0, 2, 1])
    out_spatial = tf.shape(grid)[1:-1]
    row_strides = [_product(dims[i + 1:]) for i in range(n)]
    total = None
    for combo in itertools.product(*taps):
        index: Any = 0
        weight: Any = 1
        valid: Any = True
        for i, (idx, w) in enumerate(combo):
            idx, inside = pixel(i, idx)
            index = index + idx * row_strides[i]
            weight = weight * w
            if padding == "zeros":
                valid = inside if valid is True else valid & inside
        if valid is not True:
            weight = tf.where(valid, weight, tf.zeros_like(weight))
        picked = tf.gather(flat, tf.reshape(index, [shape[0], -1]), batch_dims=1)  # (N, M, C)
        term = picked * tf.cast(tf.reshape(weight, [shape[0], -1, 1]), work)
        total = term if total is None else total + term
    y = tf.transpose(total, [0, 2, 1])
    y = tf.reshape(y, tf.concat([shape[:2], out_spatial], 0))
    return tf.cast(y, x.dtype)


@onnx_op("GridSample", since=16)
def grid_sample_16(ctx: Any) -> Any:
    mode = {"bilinear": "linear", "bicubic": "cubic", "nearest": "nearest"}.get(ctx.attr("mode", "bilinear"))
    if mode is None:
        raise ctx.unsupported(f"mode {ctx.attr('mode')!r}")
    return _grid_sample(ctx, mode)


@onnx_op("GridSample", since=20)
def grid_sample_20(ctx: Any) -> Any:
    # 20: N-D inputs and the modes renamed to linear/cubic
    mode = ctx.attr("mode", "linear")
    if mode not in ("linear", "cubic", "nearest"):
        raise ctx.unsupported(f"mode {mode!r}")
    return _grid_sample(ctx, mode)


@onnx_op("AffineGrid", since=20)
def affine_grid(ctx: Any) -> Any:
    import tensorflow as tf

    theta, size = ctx.inputs[0], ctx.inputs[1]
    align = bool(ctx.attr("align_corners", 0))
    n = int(theta.shape[-1]) - 1  # 2 for 2-D, 3 for 3-D
    spatial = tf.cast(size, tf.int64)[2:2 + n]  # (D,) H, W
    work = tf.float64

    def base(length: Any) -> Any:
        i = tf.range(length, dtype=work)
        length = tf.cast(length, work)
        if align:
            return tf.where(length > 1, -1 + 2 * i / tf.maximum(length - 1, 1.0), -tf.ones_like(i))
        return -1 + (2 * i + 1) / length

    axes = [base(spatial[k]) for k in range(n)]
    mesh = tf.meshgrid(*axes, indexing="ij")  # each (D,) H, W
    # homogeneous points with components ordered x (width), y (height), [z (depth)], 1
    points = tf.stack([*reversed(mesh), tf.ones_like(mesh[0])], axis=-1)
    flat = tf.reshape(points, [-1, n + 1])
    out = tf.einsum("bij,pj->bpi", tf.cast(theta, work), flat)
    out_shape = tf.concat([tf.shape(theta)[:1], tf.cast(spatial, tf.int32), [n]], 0)
    return tf.cast(tf.reshape(out, out_shape), theta.dtype)


def _roi_axis(start: Any, bin_size: Any, grid: Any, pooled: int, size: int) -> tuple[Any, Any]:
    """Sample indices (pooled, grid, 2) and bilinear weights along one axis of one ROI, with RoiAlign's
    rules: samples beyond [-1, size] read nothing, the rest clamp at 0 and collapse at the last pixel."""
    import tensorflow as tf

    f = start.dtype
    p = tf.range(pooled, dtype=f)[:, tf.newaxis]
    i = tf.range(tf.cast(grid, f), dtype=f)[tf.newaxis, :]
    y = start + p * bin_size + (i + 0.5) * bin_size / tf.cast(grid, f)
    valid = tf.cast((y >= -1.0) & (y <= size), f)
    y = tf.maximum(y, 0.0)
    low = tf.floor(y)
    at_end = low >= size - 1
    low = tf.where(at_end, tf.cast(size - 1, f), low)
    high = tf.where(at_end, low, low + 1)
    y = tf.where(at_end, low, y)
    ly = y - low
    index = tf.cast(tf.stack([low, high], axis=-1), tf.int32)
    weight = tf.stack([1 - ly, ly], axis=-1) * valid[..., tf.newaxis]
    return index, weight


def _roi_align(ctx: Any, half_pixel: bool) -> Any:
    import tensorflow as tf

    x, rois, batch_indices = ctx.inputs[:3]
    out_h, out_w = int(ctx.attr("output_height", 1)), int(ctx.attr("output_width", 1))
    ratio = int(ctx.attr("sampling_ratio", 0))
    scale = float(ctx.attr("spatial_scale", 1.0))
    mode = ctx.attr("mode", "avg")
    height, width = x.shape[2], x.shape[3]
    if height is None or width is None:
        raise ctx.unsupported("RoiAlign needs static spatial sizes of X")
    f = tf.float64
    xf = tf.cast(x, f)
    offset = 0.5 if half_pixel else 0.0

    def one(args: Any) -> Any:
        roi, b = args
        roi = tf.cast(roi, f) * scale - offset
        start_w, start_h, roi_w, roi_h = roi[0], roi[1], roi[2] - roi[0], roi[3] - roi[1]
        if not half_pixel:  # malformed ROIs become 1x1
            roi_w, roi_h = tf.maximum(roi_w, 1.0), tf.maximum(roi_h, 1.0)
        bin_h, bin_w = roi_h / out_h, roi_w / out_w
        grid_h = tf.cast(ratio, tf.int32) if ratio > 0 else tf.cast(tf.math.ceil(roi_h / out_h), tf.int32)
        grid_w = tf.cast(ratio, tf.int32) if ratio > 0 else tf.cast(tf.math.ceil(roi_w / out_w), tf.int32)
        iy, wy = _roi_axis(start_h, bin_h, grid_h, out_h, height)  # (out_h, gh, 2)
        ix, wx = _roi_axis(start_w, bin_w, grid_w, out_w, width)  # (out_w, gw, 2)
        image = tf.gather(xf, b)  # (C, H, W)
        rows = tf.gather(image, tf.reshape(iy, [-1]), axis=1)  # (C, out_h*gh*2, W)
        vals = tf.gather(rows, tf.reshape(ix, [-1]), axis=2)  # (C, out_h*gh*2, out_w*gw*2)
        w = tf.reshape(wy, [-1, 1]) * tf.reshape(wx, [1, -1])
        weighted = tf.reshape(vals * w, [-1, out_h, grid_h * 2, out_w, grid_w * 2])
        if mode == "avg":
            count = tf.cast(tf.maximum(grid_h * grid_w, 1), f)
            return tf.reduce_sum(weighted, axis=[2, 4]) / count
        return tf.reduce_max(weighted, axis=[2, 4])

    y = tf.map_fn(one, (rois, tf.cast(batch_indices, tf.int32)), fn_output_signature=tf.TensorSpec(None, f))
    y = tf.reshape(y, tf.stack([tf.shape(rois)[0], tf.shape(x)[1], out_h, out_w]))
    return tf.cast(y, x.dtype)


@onnx_op("RoiAlign", since=10)
def roi_align_10(ctx: Any) -> Any:
    return _roi_align(ctx, half_pixel=False)  # opset 10 behaves as output_half_pixel


@onnx_op("RoiAlign", since=16)
def roi_align_16(ctx: Any) -> Any:
    mode = ctx.attr("coordinate_transformation_mode", "half_pixel")
    if mode not in ("half_pixel", "output_half_pixel"):
        raise ctx.unsupported(f"coordinate_transformation_mode {mode!r}")
    return _roi_align(ctx, half_pixel=mode == "half_pixel")
