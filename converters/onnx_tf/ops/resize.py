"""Resize and Upsample.

One exact scheme covers every mode: resizing is separable, so each resized axis is done on its own. For an
axis we compute, with TF math mirroring ONNX's reference, each output position's source coordinate, its
``n`` neighbour indices (clamped, i.e. edge padding) and their weights, then gather the neighbours and sum
them weighted. Nearest is a single gather, so it stays exact for integer tensors too.

Any layout will do (the axes are rewritten by the layout rule). When the two resized axes are axes 1 and 2 of
a 4-D float32 tensor (channels-last), TF's own ResizeBilinear / ResizeNearestNeighbor run instead (TFLite's
RESIZE_* builtins), but only when their sampling, worked out at conversion time for every output position,
equals ONNX's for this mode, coordinate transformation and nearest rounding. A nearest resize that repeats
every pixel a whole number of times is a broadcast multiply by ones instead (XNNPACK runs it in TFLite).
"""

from __future__ import annotations

import math
from typing import Any

from bridge_converters.onnx_tf.passes.layout_axes import RESIZE
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


class _Axis:
    """The 1-D resize of one axis: its input size, output size and scale (TF scalars or Python numbers)."""

    def __init__(self, in_size: Any, out_size: Any, scale: Any, roi: tuple[Any, Any] | None) -> None:
        self.in_size, self.out_size, self.scale, self.roi = in_size, out_size, scale, roi


def _f64(v: Any) -> Any:
    """``v`` as a float64 tensor; Python and numpy numbers go straight to float64, not through float32."""
    import numpy as np
    import tensorflow as tf

    if isinstance(v, (int, float, np.number)):
        return tf.constant(float(v), tf.float64)
    return tf.cast(v, tf.float64)


def _source_coords(ax: _Axis, mode: str) -> tuple[Any, Any]:
    """Output index -> source coordinate (float64), and the mask of positions outside the crop (or None)."""
    import tensorflow as tf

    f64 = tf.float64
    y = tf.range(tf.cast(ax.out_size, tf.int32), dtype=f64)
    in_w = _f64(ax.in_size)
    scale = _f64(ax.scale)
    out_w = scale * in_w  # the (fractional) output width ONNX's formulas use
    if mode == "align_corners":
        return tf.where(tf.equal(out_w, 1.0), tf.zeros_like(y), y * (in_w - 1) / (out_w - 1)), None
    if mode == "asymmetric":
        return y / scale, None
    if mode == "tf_crop_and_resize":
        start, end = (_f64(v) for v in ax.roi)
        x = tf.where(tf.equal(out_w, 1.0), tf.fill(tf.shape(y), (end - start) * (in_w - 1) / 2),
                     y * (end - start) * (in_w - 1) / (out_w - 1))
        x = x + start * (in_w - 1)
        return x, (x < 0) | (x > in_w - 1)
    if mode == "pytorch_half_pixel":
        corner = tf.fill(tf.shape(y), tf.constant(-0.5, f64))
        return tf.where(tf.equal(out_w, 1.0), corner, (y + 0.5) / scale - 0.5), None
    if mode == "half_pixel":
        return (y + 0.5) / scale - 0.5, None
    if mode == "half_pixel_symmetric":
        adjustment = _f64(ax.out_size) / out_w
        offset = in_w / 2 * (1 - adjustment)
        return offset + (y + 0.5) / scale - 0.5, None
    raise ValueError(mode)


def _nearest_index(x: Any, nearest_mode: str) -> Any:
    """The input index nearest to source coordinate ``x`` under ONNX's rounding rule."""
    import tensorflow as tf

    fl = tf.floor(x)
    ratio = x - fl
    if nearest_mode == "round_prefer_floor":
        right = ratio > 0.5
    elif nearest_mode == "round_prefer_ceil":
        right = ratio >= 0.5
    elif nearest_mode == "floor":
        right = tf.zeros_like(ratio, dtype=tf.bool)
    elif nearest_mode == "ceil":
        right = ratio > 0
    else:
        raise ValueError(nearest_mode)
    return tf.cast(fl, tf.int64) + tf.cast(right, tf.int64)


def _weights(ratio: Any, mode: str, a: float, antialias: bool, scale: float | None) -> tuple[Any, int]:
    """Per output position the neighbour weights (out, n) for ``ratio`` in (0, 1], and n."""
    import tensorflow as tf

    r = ratio[:, tf.newaxis]
    if not antialias:
        if mode == "linear":
            return tf.concat([1 - r, r], axis=1), 2
        s = 1 - r  # cubic, Keys kernel with coefficient a
        w = [((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
             ((a + 2) * r - (a + 3)) * r * r + 1,
             ((a + 2) * s - (a + 3)) * s * s + 1,
             ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a]
        return tf.concat(w, axis=1), 4
    # antialias widens the kernel by 1/scale when downsampling
    if isinstance(scale, (int, float)):
        s: Any = min(float(scale), 1.0)
        start: Any = int(math.floor((-1 if mode == "linear" else -2) / s) + 1)
    else:
        s = tf.minimum(tf.cast(scale, tf.float64), 1.0)
        start = tf.cast(tf.floor((-1.0 if mode == "linear" else -2.0) / s), tf.int64) + 1
    n = 2 - 2 * start
    t = (tf.cast(tf.range(start, start + n), tf.float64)[tf.newaxis, :] - r) * s
    t = tf.abs(t)
    if mode == "linear":
        w = tf.clip_by_value(1 - t, 0.0, 1.0)
    else:
        w = tf.where(t <= 1, (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1,
                     tf.where(t < 2, a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a, tf.zeros_like(t)))
    return w / tf.reduce_sum(w, axis=1, keepdims=True), n


def _resize_axis(x: Any, axis: int, ax: _Axis, opts: dict[str, Any]) -> Any:
    import tensorflow as tf

    coord, outside = _source_coords(ax, opts["coordinate_transformation_mode"])
    last = tf.cast(ax.in_size, tf.int64) - 1
    if opts["mode"] == "nearest":
        idx = tf.clip_by_value(_nearest_index(coord, opts["nearest_mode"]), 0, last)
        y = tf.gather(x, idx, axis=axis)
    else:
        fl = tf.floor(coord)
        ratio = tf.where(tf.equal(coord, fl), tf.ones_like(coord), coord - fl)  # (0, 1]: prefer the left pixel
        w, n = _weights(ratio, opts["mode"], float(opts["cubic_coeff_a"]), opts["antialias"], ax.scale)
        base = tf.cast(fl, tf.int64) - (n // 2 - 1) - tf.cast(tf.equal(coord, fl), tf.int64)
        neighbours = base[:, tf.newaxis] + tf.range(n, dtype=tf.int64)[tf.newaxis, :]
        if opts["exclude_outside"]:
            w = tf.where((neighbours < 0) | (neighbours > last), tf.zeros_like(w), w)
            total = tf.reduce_sum(w, axis=1, keepdims=True)
            w = w / tf.where(tf.equal(total, 0.0), tf.ones_like(total), total)
        work = tf.float64 if x.dtype in (tf.float64,) or x.dtype.is_integer else tf.float32
        gathered = tf.gather(tf.cast(x, work), tf.clip_by_value(neighbours, 0, last), axis=axis)  # (..., out, n, ...)
        rank = x.shape.rank
        w = tf.reshape(tf.cast(w, work), [-1, n] + [1] * (rank - axis - 1))
        y = tf.reduce_sum(gathered * w, axis=axis + 1)
    if outside is not None:
        mask = tf.reshape(outside, [-1] + [1] * (x.shape.rank - axis - 1))
        y = tf.where(mask, tf.cast(opts["extrapolation_value"], y.dtype), y)
    return y


def _finish(y: Any, dtype: Any) -> Any:
    """Back to the input dtype; integers round half to even and saturate, as the reference does."""
    import tensorflow as tf

    if y.dtype == dtype:
        return y
    if dtype.is_integer:
        y = tf.clip_by_value(tf.round(y), float(dtype.min), float(dtype.max))
    return tf.cast(y, dtype)


def _static_or_dynamic(x: Any) -> list[Any]:
    import tensorflow as tf

    dyn = tf.shape(x)
    return [d if d is not None else dyn[i] for i, d in enumerate(x.shape.as_list())]


def _resize(ctx: Any, x: Any, scales: Any, sizes: Any, roi: Any, opts: dict[str, Any]) -> Any:
    """Resize ``x`` by ``scales`` or to ``sizes`` (over ``opts['axes']``), with an optional roi.

    Each of those is a numpy array when static, which keeps the output shape static, or a TF tensor.
    """
    import numpy as np
    import tensorflow as tf

    rank = x.shape.rank
    axes = [a + rank if a < 0 else a for a in (opts["axes"] or range(rank))]
    in_sizes = _static_or_dynamic(x)
    static = all(isinstance(in_sizes[a], int) for a in axes)
    per_axis: dict[int, tuple[Any, Any]] = {}  # axis -> (out size, scale)
    policy = opts["keep_aspect_ratio_policy"]
    if sizes is not None:
        if isinstance(sizes, np.ndarray) and static:
            sizes = [int(v) for v in sizes]
            factors: Any = [sizes[i] / in_sizes[a] for i, a in enumerate(axes)]
            if policy != "stretch":
                one = min(factors) if policy == "not_larger" else max(factors)
                factors = [one] * len(axes)
                sizes = [int(one * in_sizes[a] + 0.5) for a in axes]
        else:
            sizes = tf.cast(sizes, tf.float64)
            ins = tf.cast(tf.stack([in_sizes[a] for a in axes]), tf.float64)
            factors = sizes / ins
            if policy != "stretch":
                one = tf.reduce_min(factors) if policy == "not_larger" else tf.reduce_max(factors)
                factors = tf.fill(tf.shape(factors), one)
                sizes = tf.floor(one * ins + 0.5)
            sizes = tf.cast(sizes, tf.int32)
            factors, sizes = tf.unstack(factors, len(axes)), tf.unstack(sizes, len(axes))
        for i, a in enumerate(axes):
            per_axis[a] = (sizes[i], factors[i])
    else:
        if not isinstance(scales, np.ndarray):
            scales = tf.unstack(tf.cast(scales, tf.float64), len(axes))
        for i, a in enumerate(axes):
            sc, size = scales[i], in_sizes[a]
            if isinstance(sc, (np.floating, float, np.integer)) and isinstance(size, int):
                per_axis[a] = (int(float(sc) * size), float(sc))
            else:
                per_axis[a] = (tf.cast(tf.floor(tf.cast(sc, tf.float64) * tf.cast(size, tf.float64)), tf.int32), sc)
    roi_pairs = None
    if opts["coordinate_transformation_mode"] == "tf_crop_and_resize":
        if roi is None:
            raise ctx.unsupported("tf_crop_and_resize needs a roi")
        k = len(axes)
        roi_pairs = {a: (roi[i], roi[k + i]) for i, a in enumerate(axes)}
    builtin = _builtin_resize(x, in_sizes, per_axis, opts) if roi_pairs is None else None
    if builtin is not None:
        return builtin
    y = x
    for a in axes:
        out, sc = per_axis[a]
        crop = roi_pairs[a] if roi_pairs else None
        if isinstance(out, int) and isinstance(sc, float) and out == in_sizes[a] and math.isclose(sc, 1.0):
            if crop is None or (isinstance(crop[0], np.floating) and math.isclose(crop[0], 0.0)
                                and math.isclose(crop[1], 1.0)):
                continue
        y = _resize_axis(y, a, _Axis(in_sizes[a], out, sc, crop), opts)
    return _finish(y, x.dtype)


# -- TF's resize kernels, where they sample exactly as ONNX does ----------------------------------------
def _onnx_matrix(n_in: int, n_out: int, scale: float, opts: dict[str, Any]) -> Any:
    """(n_out, n_in) weights of one ONNX resize axis (nearest or linear, no antialias), in numpy."""
    import numpy as np

    y = np.arange(n_out, dtype=np.float64)
    mode = opts["coordinate_transformation_mode"]
    out_w = scale * n_in
    if mode == "align_corners":
        x = np.zeros_like(y) if out_w == 1 else y * (n_in - 1) / (out_w - 1)
    elif mode == "asymmetric":
        x = y / scale
    elif mode == "pytorch_half_pixel":
        x = np.full_like(y, -0.5) if out_w == 1 else (y + 0.5) / scale - 0.5
    elif mode == "half_pixel":
        x = (y + 0.5) / scale - 0.5
    else:
        return None
    m = np.zeros((n_out, n_in))
    if opts["mode"] == "nearest":
        fl = np.floor(x)
        ratio = x - fl
        right = {"round_prefer_floor": ratio > 0.5, "round_prefer_ceil": ratio >= 0.5, "floor": ratio < 0,
                 "ceil": ratio > 0}[opts["nearest_mode"]]
        m[np.arange(n_out), np.clip(fl + right, 0, n_in - 1).astype(np.int64)] = 1.0
        return m
    fl = np.floor(x)
    for idx, w in ((fl, 1 - (x - fl)), (fl + 1, x - fl)):
        np.add.at(m, (np.arange(n_out), np.clip(idx, 0, n_in - 1).astype(np.int64)), w)
    return m


def _tf_matrix(n_in: int, n_out: int, nearest: bool, align_corners: bool, half_pixel: bool) -> Any:
    """(n_out, n_in) weights of TF's ResizeBilinear/ResizeNearestNeighbor along one axis for these flags."""
    import numpy as np

    scale = (n_in - 1) / (n_out - 1) if align_corners and n_out > 1 else n_in / n_out
    y = np.arange(n_out, dtype=np.float64)
    m = np.zeros((n_out, n_in))
    if nearest:
        src = (y + 0.5) * scale if half_pixel else y * scale
        idx = np.floor(src + 0.5) if align_corners else np.floor(src)  # C's roundf: half away from zero
        m[np.arange(n_out), np.clip(idx, 0, n_in - 1).astype(np.int64)] = 1.0
        return m
    src = (y + 0.5) * scale - 0.5 if half_pixel else y * scale
    fl = np.floor(src)
    lerp = src - fl
    np.add.at(m, (np.arange(n_out), np.clip(fl, 0, n_in - 1).astype(np.int64)), 1 - lerp)
    np.add.at(m, (np.arange(n_out), np.clip(np.ceil(src), 0, n_in - 1).astype(np.int64)), lerp)
    return m


def _repeat_matrix(n_in: int, factor: int) -> Any:
    import numpy as np

    return np.kron(np.eye(n_in), np.ones((factor, 1)))


def _repeat(x: Any, factors: list[int]) -> Any:
    """Nearest upsampling of axes 1 and 2 of (N, H, W, C) ``x`` by whole ``factors``: every pixel repeated,
    written as a broadcast multiply by ones (exact). XNNPACK takes the MUL, where it leaves TFLite's
    RESIZE_NEAREST_NEIGHBOR to the slower builtin kernel (723 against 448 us for 80x80x64 doubled)."""
    import tensorflow as tf

    n, h, w, c = (d if d is not None else tf.shape(x)[i] for i, d in enumerate(x.shape.as_list()))
    (fh, fw), ones = factors, tf.ones([1, 1, factors[0], 1, factors[1], 1], x.dtype)
    return tf.reshape(tf.reshape(x, [n, h, 1, w, 1, c]) * ones, [n, h * fh, w * fw, c])


def _builtin_resize(x: Any, in_sizes: list[Any], per_axis: dict[int, tuple[Any, Any]], opts: dict[str, Any]) -> Any:
    """TF's resize kernel on axes 1 and 2 of a 4-D float32 ``x`` where it samples exactly like ONNX; else None."""
    import numpy as np
    import tensorflow as tf

    if x.shape.rank != 4 or x.dtype != tf.float32 or opts["antialias"] or opts["mode"] not in ("nearest", "linear"):
        return None
    moving = {a for a, (out, sc) in per_axis.items() if not (isinstance(out, int) and out == in_sizes[a] and sc == 1.0)}
    if not moving or not moving <= {1, 2} or opts["keep_aspect_ratio_policy"] != "stretch":
        return None
    if any(not isinstance(in_sizes[a], int) for a in (1, 2)):
        return _dynamic_repeat(x, [per_axis.get(a, (in_sizes[a], 1.0))[1] for a in (1, 2)], opts)
    sizes: list[tuple[int, int, float]] = []
    for a in (1, 2):
        out, sc = per_axis.get(a, (in_sizes[a], 1.0))
        if not isinstance(out, int) or not isinstance(in_sizes[a], int) or not isinstance(sc, (int, float, np.number)):
            return None
        sizes.append((in_sizes[a], out, float(sc)))
    wanted = [_onnx_matrix(n, m, sc, opts) for n, m, sc in sizes]
    if any(w is None for w in wanted):
        return None
    nearest = opts["mode"] == "nearest"
    repeats = [m // n if m % n == 0 else 0 for n, m, _ in sizes]  # 0: not a whole factor
    if nearest and all(r and np.array_equal(w, _repeat_matrix(n, r))
                       for (n, _, _), r, w in zip(sizes, repeats, wanted)):
        return _repeat(x, repeats)
    for align, half in ((False, True), (False, False), (True, False)):
        if all(np.allclose(_tf_matrix(n, m, nearest, align, half), w, atol=1e-6) for (n, m, _), w in zip(sizes, wanted)):
            op = tf.raw_ops.ResizeNearestNeighbor if nearest else tf.raw_ops.ResizeBilinear
            return op(images=x, size=[sizes[0][1], sizes[1][1]], align_corners=align, half_pixel_centers=half)
    return None


_PERIOD_CHECK = range(1, 17)  # input sizes on which a whole-factor nearest resize must be a repeat


def _dynamic_repeat(x: Any, scales: list[Any], opts: dict[str, Any]) -> Any:
    """Nearest upsampling by constant whole factors of a dynamic height or width (a detector exported with
    dynamic H and W), as ``_repeat``: builtin in TFLite, where the sampled path computes its coordinates in
    float64 (Flex). Only where ONNX's sampling is the repeat at every input size checked: for a whole
    factor the asymmetric and half-pixel index patterns repeat with the period of the factor."""
    import numpy as np

    if opts["mode"] != "nearest" or not all(isinstance(s, (int, float, np.number)) for s in scales):
        return None
    factors = [int(s) for s in scales]
    if any(f < 1 or f != float(s) for f, s in zip(factors, scales)):
        return None
    if not all(np.array_equal(_onnx_matrix(n, n * f, float(f), opts), _repeat_matrix(n, f))
               for f in set(factors) for n in _PERIOD_CHECK):
        return None
    return _repeat(x, factors)


def _options(ctx: Any, **overrides: Any) -> dict[str, Any]:
    opts = {
        "mode": ctx.attr("mode", "nearest"),
        "coordinate_transformation_mode": ctx.attr("coordinate_transformation_mode", "half_pixel"),
        "nearest_mode": ctx.attr("nearest_mode", "round_prefer_floor"),
        "cubic_coeff_a": ctx.attr("cubic_coeff_a", -0.75),
        "exclude_outside": bool(ctx.attr("exclude_outside", 0)),
        "extrapolation_value": ctx.attr("extrapolation_value", 0.0),
        "antialias": bool(ctx.attr("antialias", 0)),
        "axes": ctx.attr("axes"),
        "keep_aspect_ratio_policy": ctx.attr("keep_aspect_ratio_policy", "stretch"),
    }
    opts.update(overrides)
    if opts["mode"] not in ("nearest", "linear", "cubic"):
        raise ctx.unsupported(f"mode {opts['mode']!r}")
    if opts["mode"] == "nearest":
        opts["antialias"] = False
    return opts


def _input_or_none(ctx: Any, i: int) -> Any:
    """Input ``i`` as a numpy array when static, else the tensor; None when absent or empty."""
    import numpy as np

    if not ctx.has_input(i):
        return None
    value = ctx.const(i)
    if value is not None:
        return None if np.size(value) == 0 else np.asarray(value)
    t = ctx.inputs[i]
    if t.shape.rank == 1 and t.shape[0] == 0:
        return None
    return t


@onnx_op("Resize", since=10, layout=RESIZE)
def resize_10(ctx: Any) -> Any:
    # opset 10: scales only, asymmetric coordinates, nearest rounds down (as Upsample)
    scales = _input_or_none(ctx, 1)
    opts = _options(ctx, coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    return _resize(ctx, ctx.inputs[0], scales, None, None, opts)


@onnx_op("Resize", since=11, layout=RESIZE)
def resize(ctx: Any) -> Any:
    import numpy as np
    import tensorflow as tf

    # 11: roi/scales/sizes inputs; 13: roi and scales optional; 18: axes, antialias, keep_aspect_ratio_policy;
    # 19: half_pixel_symmetric. Attributes absent in older opsets take their defaults, so one handler serves.
    roi = _input_or_none(ctx, 1)
    scales = _input_or_none(ctx, 2)
    sizes = _input_or_none(ctx, 3)
    if scales is None and sizes is None:
        raise ctx.unsupported("one of scales or sizes must be given")
    opts = _options(ctx)
    if (sizes is not None and not isinstance(sizes, np.ndarray) and opts["keep_aspect_ratio_policy"] == "stretch"
            and opts["coordinate_transformation_mode"] != "tf_crop_and_resize"):  # its roi names every axis
        known = _known_sizes(ctx, opts["axes"])
        if known is not None:
            if not known:
                return tf.identity(ctx.inputs[0])
            opts["axes"], sizes = list(known), np.asarray(list(known.values()), np.int64)
    return _resize(ctx, ctx.inputs[0], scales, sizes, roi, opts)


def _known_sizes(ctx: Any, axes: Any) -> dict[int, int] | None:
    """Run-time ``sizes`` that pass the data's own dims through on some axes (``Concat(Shape(x)[:2], hw)``)
    and are known on the rest: physical axis -> size of the axes really resized; None when any is unknown."""
    from bridge_converters.onnx_tf.passes.shape_values import is_dim_of

    partial, layout = ctx.partial(3), ctx.layout(0)
    axes = [a + len(layout) if a < 0 else a for a in (axes or range(len(layout)))]
    if partial is None or len(partial.entries) != len(axes):
        return None
    known = {}
    for e, a in zip(partial.entries, axes):
        if is_dim_of(e, ctx.node.input[0], layout[a]):
            continue  # this axis keeps its size
        if not isinstance(e, int):
            return None
        known[a] = e
    return known


@onnx_op("Upsample", since=7, layout=RESIZE)
def upsample_7(ctx: Any) -> Any:
    import numpy as np

    # Upsample: asymmetric coordinates, nearest rounds down; scales an attribute here, an input from 9
    opts = _options(ctx, coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    return _resize(ctx, ctx.inputs[0], np.asarray(ctx.attr("scales"), np.float32), None, None, opts)


@onnx_op("Upsample", since=9, layout=RESIZE)
def upsample_9(ctx: Any) -> Any:
    opts = _options(ctx, coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    return _resize(ctx, ctx.inputs[0], _input_or_none(ctx, 1), None, None, opts)
