"""Detection and patch ops: NonMaxSuppression, Col2Im."""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


# -- NonMaxSuppression ------------------------------------------------------------------------------
def _suppression(boxes: Any, center_point_box: bool, iou_threshold: Any) -> Any:
    """[batch, n, n] bool: box i suppresses box j, with onnx's reference rules (IoU strictly above the
    threshold; empty intersections, empty boxes and empty unions never suppress)."""
    import tensorflow as tf

    a, b, c, d = (boxes[..., i] for i in range(4))
    if center_point_box:  # [x_center, y_center, width, height]
        x_min, x_max = a - c / 2, a + c / 2
        y_min, y_max = b - d / 2, b + d / 2
    else:  # [y1, x1, y2, x2], either corner first
        x_min, x_max = tf.minimum(b, d), tf.maximum(b, d)
        y_min, y_max = tf.minimum(a, c), tf.maximum(a, c)

    def pair(v: Any) -> tuple[Any, Any]:
        return v[:, :, None], v[:, None, :]

    (x1_min, x2_min), (x1_max, x2_max) = pair(x_min), pair(x_max)
    (y1_min, y2_min), (y1_max, y2_max) = pair(y_min), pair(y_max)
    ix = tf.minimum(x1_max, x2_max) - tf.maximum(x1_min, x2_min)
    iy = tf.minimum(y1_max, y2_max) - tf.maximum(y1_min, y2_min)
    inter = ix * iy
    area1 = (x1_max - x1_min) * (y1_max - y1_min)
    area2 = (x2_max - x2_min) * (y2_max - y2_min)
    union = area1 + area2 - inter
    ok = (ix > 0) & (iy > 0) & (inter > 0) & (area1 > 0) & (area2 > 0) & (union > 0)
    iou = inter / tf.where(ok, union, tf.ones_like(union))
    return ok & (iou > iou_threshold)


def _first_scalar(ctx: Any, i: int, dtype: Any) -> Any:
    """Input ``i``'s first element, or None when the input is absent or empty."""
    import tensorflow as tf

    if not ctx.has_input(i):
        return None
    value = ctx.const(i)
    if value is not None:
        return None if value.size == 0 else tf.constant(value.reshape(-1)[0], dtype)
    flat = tf.reshape(tf.cast(ctx.inputs[i], dtype), [-1])
    return tf.cond(tf.size(flat) > 0, lambda: flat[0], lambda: tf.zeros([], dtype))


def _floordiv(a: Any, b: Any) -> Any:
    """int64 a // b through int32: TFLite's FLOOR_DIV has no int64 kernel (counts here stay far below 2**31)."""
    import tensorflow as tf

    return tf.cast(tf.cast(a, tf.int32) // tf.cast(b, tf.int32), tf.int64)


@onnx_op("NonMaxSuppression", since=10)
def non_max_suppression(ctx: Any) -> Any:
    import tensorflow as tf

    boxes, scores = ctx.inputs[0], ctx.inputs[1]  # [batch, n, 4], [batch, classes, n]
    max_out = _first_scalar(ctx, 2, tf.int64)
    max_out = tf.zeros([], tf.int64) if max_out is None else tf.maximum(max_out, 0)
    iou_threshold = _first_scalar(ctx, 3, boxes.dtype)
    iou_threshold = tf.zeros([], boxes.dtype) if iou_threshold is None else iou_threshold
    score_threshold = _first_scalar(ctx, 4, scores.dtype)

    suppress = _suppression(boxes, bool(ctx.attr("center_point_box", 0)), iou_threshold)
    shape = tf.shape(scores, out_type=tf.int64)
    n_classes, n = shape[1], shape[2]
    flat_scores = tf.reshape(scores, [-1, n])  # one row per (batch, class)
    rows = tf.shape(flat_scores, out_type=tf.int64)[0]
    batch_of_row = _floordiv(tf.range(rows), n_classes)
    # Highest score first; ties keep the lower box index first (a stable sort), as the reference pops them.
    order = tf.argsort(-flat_scores, axis=-1, stable=True)
    ordered_scores = tf.gather(flat_scores, order, batch_dims=1)
    candidate = tf.ones_like(ordered_scores, tf.bool)
    if score_threshold is not None:
        candidate = ordered_scores > score_threshold
    row_suppress = tf.gather(suppress, batch_of_row)  # [rows, n, n]

    def step(t: Any, kept: Any, count: Any, taken: Any) -> tuple[Any, Any, Any, Any]:
        box = order[:, t]
        blocked = tf.reduce_any(kept & tf.gather(row_suppress, box, batch_dims=1), axis=-1)
        take = candidate[:, t] & ~blocked & (count < max_out)
        chosen = tf.one_hot(box, tf.cast(n, tf.int32), on_value=True, off_value=False) & take[:, None]
        kept = kept | tf.ensure_shape(chosen, kept.shape)  # keeps the loop variable's static shape
        # step t's picks as column t: a plain tensor, not a TensorArray, so TFLite lowers the loop to builtins
        at_t = tf.one_hot(t, tf.cast(n, tf.int32), on_value=True, off_value=False)[None, :] & take[:, None]
        return t + 1, kept, count + tf.cast(take, tf.int64), taken | tf.ensure_shape(at_t, taken.shape)

    _, _, _, taken = tf.while_loop(
        lambda t, *_: t < n, step,
        [tf.constant(0, tf.int64), tf.zeros_like(candidate), tf.zeros([rows], tf.int64), tf.zeros_like(candidate)])
    # taken: [rows, steps]
    # Row-major order of (row, step) is the reference's output order: batch, class, then selection order.
    where = tf.where(taken)
    row = where[:, 0]
    box = tf.cast(tf.gather_nd(order, where), tf.int64)
    return tf.stack([_floordiv(row, n_classes), row % n_classes, box], axis=1)


# -- Col2Im -----------------------------------------------------------------------------------------
@onnx_op("Col2Im", since=18)
def col2im(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]  # [N, C * prod(block), L]
    image = tf.reshape(tf.cast(ctx.inputs[1], tf.int64), [-1])
    block = tf.reshape(tf.cast(ctx.inputs[2], tf.int64), [-1])
    k = ctx.inputs[1].shape[0] if ctx.inputs[1].shape.rank == 1 else None
    if k is None:
        raise ctx.unsupported("Col2Im needs image_shape of static length")
    dilations = tf.constant(ctx.attr("dilations", [1] * k), tf.int64)
    strides = tf.constant(ctx.attr("strides", [1] * k), tf.int64)
    pads = ctx.attr("pads", [0] * (2 * k))
    pad_begin, pad_end = tf.constant(pads[:k], tf.int64), tf.constant(pads[k:], tf.int64)
    blocks = (image + pad_begin + pad_end - dilations * (block - 1) - 1) // strides + 1
    # Every (kernel offset, block position) pair lands on one image position, or outside the image.
    offset = tf.unravel_index(tf.range(tf.reduce_prod(block)), block)  # [k, K]
    where = tf.unravel_index(tf.range(tf.reduce_prod(blocks)), blocks)  # [k, L]
    pos = (where[:, None, :] * strides[:, None, None] - pad_begin[:, None, None]
           + offset[:, :, None] * dilations[:, None, None])  # [k, K, L]
    inside = tf.reduce_all((pos >= 0) & (pos < image[:, None, None]), axis=0)
    pixels = tf.reduce_prod(image)
    flat = tf.zeros_like(pos[0])
    for i in range(k):
        flat = flat * image[i] + pos[i]
    segment = tf.where(inside, flat, pixels)  # outside positions go to a dropped extra segment
    shape = tf.shape(x, out_type=tf.int64)
    n, c = shape[0], shape[1] // tf.reduce_prod(block)
    cols = tf.reshape(x, tf.stack([n, c, tf.reduce_prod(block), shape[2]]))
    summed = tf.math.unsorted_segment_sum(tf.transpose(cols, [2, 3, 0, 1]), segment, pixels + 1)
    out = tf.transpose(summed[:-1], [1, 2, 0])
    return tf.reshape(out, tf.concat([tf.stack([n, c]), image], 0))
