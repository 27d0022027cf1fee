"""SSD's PriorBox (constant: it depends only on shapes) and DetectionOutput (decode, per-class NMS, keep
the best ``keep_top_k``), emitting Caffe's ``[1, 1, N, 7]`` rows: image, label, score, xmin, ymin, xmax, ymax.

DetectionOutput follows Caffe's order of work: per image and class, the ``top_k`` best scores, greedy NMS
among them at ``nms_threshold`` (IoU strictly above suppresses) keeping scores above
``confidence_threshold``; then the best ``keep_top_k`` over all classes, listed by class, best first. The
batch size and the classes are static, so images and classes are unrolled: each NMS sees only its class's
``top_k`` boxes.
"""

from __future__ import annotations

import math
from typing import Any

from bridge_converters.caffe_onnx.layers._util import int64, reshape, scalar
from bridge_converters.caffe_onnx.registry import caffe_layer

MAX_PRIORS = 1 << 24
_CORNER, _CENTER_SIZE, _CORNER_SIZE = 1, 2, 3


def _aspect_ratios(p: Any) -> list[float]:
    ratios = [1.0]
    for r in p.aspect_ratio:
        if any(abs(r - q) < 1e-6 for q in ratios):
            continue
        ratios.append(float(r))
        if p.flip:
            ratios.append(1.0 / float(r))
    return ratios


def prior_boxes(p: Any, layer_hw: tuple[int, int], image_hw: tuple[int, int]) -> Any:
    """SSD's PriorBoxLayer::Forward_cpu as numpy: ``[2, H*W*num_priors*4]`` boxes then variances."""
    import numpy as np

    layer_h, layer_w = layer_hw
    img_h = p.img_h if p.HasField("img_h") else p.img_size if p.HasField("img_size") else image_hw[0]
    img_w = p.img_w if p.HasField("img_w") else p.img_size if p.HasField("img_size") else image_hw[1]
    step_h = p.step_h if p.HasField("step_h") else p.step if p.HasField("step") else img_h / layer_h
    step_w = p.step_w if p.HasField("step_w") else p.step if p.HasField("step") else img_w / layer_w
    ratios = _aspect_ratios(p)
    boxes = []
    for h in range(layer_h):
        for w in range(layer_w):
            cx, cy = (w + p.offset) * step_w, (h + p.offset) * step_h
            for s, min_size in enumerate(p.min_size):
                sizes = [(min_size, min_size)]
                if p.max_size:
                    side = math.sqrt(min_size * p.max_size[s])
                    sizes.append((side, side))
                sizes += [(min_size * math.sqrt(r), min_size / math.sqrt(r)) for r in ratios if abs(r - 1.0) >= 1e-6]
                for bw, bh in sizes:
                    boxes.append(((cx - bw / 2) / img_w, (cy - bh / 2) / img_h, (cx + bw / 2) / img_w, (cy + bh / 2) / img_h))
    top = np.asarray(boxes, np.float32).reshape(-1)
    if p.clip:
        top = np.clip(top, 0.0, 1.0)
    variance = list(p.variance) or [0.1]
    variances = np.tile(np.asarray(variance * (4 if len(variance) == 1 else 1), np.float32), len(boxes))
    return np.stack([top, variances])[None]


@caffe_layer("PriorBox")
def prior_box(ctx: Any) -> None:
    ctx.expect_bottoms(2)
    ctx.expect_tops(1)
    p = ctx.param("prior_box_param")
    feature, image = ctx.bottom_shape(0), ctx.bottom_shape(1)
    if len(feature) != 4 or len(image) != 4:
        raise ctx.fail("needs a 4-d feature map and a 4-d image bottom")
    if not p.min_size or any(s <= 0 for s in p.min_size):
        raise ctx.fail("needs positive min_size values")
    if p.max_size and (len(p.max_size) != len(p.min_size) or any(a <= b for a, b in zip(p.max_size, p.min_size))):
        raise ctx.fail("needs one max_size above each min_size")
    if len(p.variance) not in (0, 1, 4) or any(v <= 0 for v in p.variance):
        raise ctx.fail(f"has {len(p.variance)} variance values; give 1 or 4, all positive")
    per_cell = len(_aspect_ratios(p)) * len(p.min_size) + len(p.max_size)
    count = feature[2] * feature[3] * per_cell
    if count > MAX_PRIORS:
        raise ctx.fail(f"makes {count:,} priors; at most {MAX_PRIORS:,}")
    boxes = prior_boxes(p, feature[2:], image[2:])
    ctx.top(0, "Identity", [ctx.const(boxes, "priors")], tuple(boxes.shape))


def _columns(ctx: Any, x: str, shape: tuple[int, ...], what: str) -> list[str]:
    """The 4 coordinates of ``x`` (last axis 4) as separate tensors of shape[:-1] + (1,)."""
    out = tuple(shape[:-1]) + (1,)
    return ctx.multi("Split", [x, int64(ctx, [1, 1, 1, 1], f"{what}_split")], [out] * 4, what, axis=len(shape) - 1)


def _decode(ctx: Any, p: Any, loc: str, prior: str, batch: int, priors: int) -> str:
    """Boxes [batch, priors, 4] as corners, from Caffe's DecodeBBox for the layer's code type."""
    shape = (batch, priors, 4)
    enc = p.variance_encoded_in_target
    pr = reshape(ctx, prior, (2, 1, priors, 4), what="priors_and_variances")
    boxes, variances = ctx.multi("Split", [pr, int64(ctx, [1, 1], "prior_split")], [(1, 1, priors, 4)] * 2,
                                 "prior_parts", axis=0)
    boxes, variances = (reshape(ctx, t, (1, priors, 4), what=w) for t, w in ((boxes, "prior_boxes"), (variances, "variances")))
    if not enc:
        loc = ctx.node("Mul", [loc, variances], shape, "scaled_loc")
    if p.code_type == _CORNER:
        return ctx.node("Add", [loc, boxes], shape, "decoded")
    x1, y1, x2, y2 = _columns(ctx, boxes, (1, priors, 4), "prior_corner")
    col = (1, priors, 1)
    bcol = (batch, priors, 1)
    pw = ctx.node("Sub", [x2, x1], col, "prior_w")
    ph = ctx.node("Sub", [y2, y1], col, "prior_h")
    lx, ly, lw, lh = _columns(ctx, loc, shape, "loc")
    if p.code_type == _CORNER_SIZE:
        size = ctx.node("Concat", [pw, ph, pw, ph], (1, priors, 4), "prior_sizes", axis=2)
        offset = ctx.node("Mul", [loc, size], shape, "sized_loc")
        return ctx.node("Add", [offset, boxes], shape, "decoded")
    half = scalar(ctx, 0.5, "half")
    cx = ctx.node("Mul", [ctx.node("Add", [x1, x2], col, "prior_x_sum"), half], col, "prior_cx")
    cy = ctx.node("Mul", [ctx.node("Add", [y1, y2], col, "prior_y_sum"), half], col, "prior_cy")
    dcx = ctx.node("Add", [ctx.node("Mul", [lx, pw], bcol, "dx"), cx], bcol, "center_x")
    dcy = ctx.node("Add", [ctx.node("Mul", [ly, ph], bcol, "dy"), cy], bcol, "center_y")
    dw = ctx.node("Mul", [ctx.node("Exp", [lw], bcol, "exp_w"), pw], bcol, "width")
    dh = ctx.node("Mul", [ctx.node("Exp", [lh], bcol, "exp_h"), ph], bcol, "height")
    hw, hh = ctx.node("Mul", [dw, half], bcol, "half_w"), ctx.node("Mul", [dh, half], bcol, "half_h")
    corners = [ctx.node("Sub", [dcx, hw], bcol, "xmin"), ctx.node("Sub", [dcy, hh], bcol, "ymin"),
               ctx.node("Add", [dcx, hw], bcol, "xmax"), ctx.node("Add", [dcy, hh], bcol, "ymax")]
    return ctx.node("Concat", corners, shape, "decoded", axis=2)


def _class(ctx: Any, p: Any, tag: str, box_rows: str, class_scores: str, label: int, priors: int,
           threshold: float) -> tuple[str, str, str]:
    """One class of one image: its ``top_k`` best priors, greedy NMS among them. Returns the kept scores
    [n], prior indices [n] and labels [n] (as floats), best first."""
    import numpy as np
    from onnx import numpy_helper

    top_k = int(p.nms_param.top_k) if p.nms_param.HasField("top_k") else -1
    if top_k == 0:
        raise ctx.fail("has nms_param top_k 0")
    k = priors if top_k < 0 else min(top_k, priors)
    # Caffe sorts a class's scores and keeps the top_k before NMS; NMS then sees only those k boxes.
    values, index = ctx.multi("TopK", [class_scores, int64(ctx, [k], f"{tag}_k")], [(k,), (k,)], f"{tag}_top_k", axis=0)
    boxes = reshape(ctx, ctx.node("Gather", [box_rows, index], (k, 4), f"{tag}_boxes", axis=0), (1, k, 4),
                    what=f"{tag}_nms_boxes")
    scores = reshape(ctx, values, (1, 1, k), what=f"{tag}_nms_scores")
    selected = ctx.node("NonMaxSuppression", [boxes, scores, int64(ctx, [k], f"{tag}_max"),
                                              scalar(ctx, float(p.nms_param.nms_threshold), f"{tag}_iou"),
                                              scalar(ctx, threshold, f"{tag}_threshold")], (None, 3), f"{tag}_nms")
    _, _, position = ctx.multi("Split", [selected, int64(ctx, [1, 1, 1], f"{tag}_split")], [(None, 1)] * 3,
                               f"{tag}_selected", axis=1)
    position = reshape(ctx, position, (-1,), what=f"{tag}_position")
    kept_scores = ctx.node("Gather", [values, position], (None,), f"{tag}_scores", axis=0)
    kept_priors = ctx.node("Gather", [index, position], (None,), f"{tag}_priors", axis=0)
    labels = ctx.node("ConstantOfShape", [ctx.node("Shape", [kept_scores], (1,), f"{tag}_count")], (None,),
                      f"{tag}_labels", value=numpy_helper.from_array(np.asarray([label], np.float32)))
    return kept_scores, kept_priors, labels


def _image(ctx: Any, p: Any, b: int, boxes: str, scores: str, labels: list[int], priors: int) -> str:
    """Rows [n, 7] for image ``b``: every class's NMS, then the best ``keep_top_k`` of them, in class order."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    classes = len(labels)
    box_rows = reshape(ctx, ctx.node("Gather", [boxes, int64(ctx, [b], f"img{b}")], (1, priors, 4), f"img{b}_boxes",
                                     axis=0), (priors, 4), what=f"img{b}_box_rows")
    image_scores = ctx.node("Gather", [scores, int64(ctx, [b], f"img{b}_s")], (1, classes, priors), f"img{b}_scores", axis=0)
    per_class = ctx.multi("Split", [image_scores, int64(ctx, [1] * classes, f"img{b}_class_split")],
                          [(1, 1, priors)] * classes, f"img{b}_class", axis=1)
    floor = float(-np.finfo(np.float32).max)  # Caffe's -FLT_MAX: no threshold given
    threshold = float(p.confidence_threshold) if p.HasField("confidence_threshold") else floor
    kept = [_class(ctx, p, f"img{b}_c{label}", box_rows, reshape(ctx, s, (priors,), what=f"img{b}_c{label}_scores_in"),
                   label, priors, threshold) for label, s in zip(labels, per_class)]
    if classes == 1:
        scores_all, priors_all, labels_all = kept[0]
    else:
        scores_all, priors_all, labels_all = (ctx.node("Concat", [k[i] for k in kept], (None,), f"img{b}_{what}", axis=0)
                                              for i, what in enumerate(("scores", "priors", "labels")))
    if p.keep_top_k > -1:
        count = ctx.node("Shape", [scores_all], (1,), f"img{b}_count")
        k = ctx.node("Min", [count, int64(ctx, [int(p.keep_top_k)], f"img{b}_keep_top_k")], (1,), f"img{b}_k")
        _, best = ctx.multi("TopK", [scores_all, k], [(None,), (None,)], f"img{b}_best", axis=0)
        # back to class order, best first, as Caffe lists its detections: the kept positions ascending,
        # sorted as negated floats (exact below 2**24; an integer TopK(largest=0) needs ops TFLite lacks)
        position = ctx.node("Cast", [best], (None,), f"img{b}_position", to=onnx.TensorProto.FLOAT)
        negated = ctx.node("Neg", [position], (None,), f"img{b}_negated")
        ascending, _ = ctx.multi("TopK", [negated, k], [(None,), (None,)], f"img{b}_class_order", axis=0)
        order = ctx.node("Cast", [ctx.node("Neg", [ascending], (None,), f"img{b}_ascending")], (None,),
                         f"img{b}_order", to=onnx.TensorProto.INT64)
        scores_all, priors_all, labels_all = (ctx.node("Gather", [t, order], (None,), f"img{b}_kept_{what}", axis=0)
                                              for t, what in ((scores_all, "scores"), (priors_all, "priors"),
                                                              (labels_all, "labels")))
    kept_boxes = ctx.node("Gather", [box_rows, priors_all], (None, 4), f"img{b}_kept_boxes", axis=0)
    columns = [reshape(ctx, t, (-1, 1), what=f"img{b}_{what}_col")
               for t, what in ((scores_all, "score"), (labels_all, "label"))]
    image_col = ctx.node("ConstantOfShape", [ctx.node("Shape", [columns[0]], (2,), f"img{b}_rows_shape")], (None, 1),
                         f"img{b}_image_col", value=numpy_helper.from_array(np.asarray([b], np.float32)))
    return ctx.node("Concat", [image_col, columns[1], columns[0], kept_boxes], (None, 7), f"img{b}_rows", axis=1)


@caffe_layer("DetectionOutput")
def detection_output(ctx: Any) -> None:
    ctx.expect_bottoms(3)
    ctx.expect_tops(1)
    p = ctx.param("detection_output_param")
    loc_shape, conf_shape, prior_shape = (ctx.bottom_shape(i) for i in range(3))
    classes = int(p.num_classes)
    if classes <= 0:
        raise ctx.fail("sets no num_classes")
    if not p.share_location:
        raise ctx.unsupported("with share_location: false")
    if p.nms_param.eta != 1.0:
        raise ctx.unsupported(f"with adaptive NMS (eta {p.nms_param.eta})")
    if p.code_type not in (_CORNER, _CENTER_SIZE, _CORNER_SIZE):
        raise ctx.fail(f"has code_type {p.code_type}")
    if len(prior_shape) < 3 or prior_shape[1] != 2 or prior_shape[2] % 4:
        raise ctx.fail(f"needs priors of shape [1, 2, 4*P] as bottom 2, got {list(prior_shape)}")
    batch, priors = loc_shape[0], prior_shape[2] // 4
    if math.prod(loc_shape) != batch * priors * 4 or math.prod(conf_shape) != batch * priors * classes:
        raise ctx.fail(f"has loc {list(loc_shape)} and conf {list(conf_shape)} for {priors} priors and {classes} classes")
    loc = reshape(ctx, ctx.bottom(0), (batch, priors, 4), what="loc")
    conf = reshape(ctx, ctx.bottom(1), (batch, priors, classes), what="conf")
    scores = ctx.node("Transpose", [conf], (batch, classes, priors), "class_scores", perm=[0, 2, 1])
    labels = [c for c in range(classes) if c != p.background_label_id]
    if len(labels) != classes:
        scores = ctx.node("Gather", [scores, int64(ctx, labels, "foreground")], (batch, len(labels), priors),
                          "foreground_scores", axis=1)
    boxes = _decode(ctx, p, loc, ctx.bottom(2), batch, priors)
    rows = [_image(ctx, p, b, boxes, scores, labels, priors) for b in range(batch)]
    allrows = rows[0] if len(rows) == 1 else ctx.node("Concat", rows, (None, 7), "rows", axis=0)
    out = reshape(ctx, allrows, (1, 1, -1, 7), top=0)
    ctx.detection_output(out, {
        "layout": "caffe_ssd", "columns": ["image", "label", "score", "xmin", "ymin", "xmax", "ymax"],
        "confidence_threshold": float(p.confidence_threshold) if p.HasField("confidence_threshold") else None,
        "keep_top_k": int(p.keep_top_k), "background_label_id": int(p.background_label_id),
    })
