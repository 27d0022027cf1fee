"""Interp (DeepLab / PSPNet): bilinear resize with aligned corners, after cropping by negative pads."""

from __future__ import annotations

from typing import Any

from bridge_converters.caffe_onnx.layers._util import int64
from bridge_converters.caffe_onnx.registry import caffe_layer


@caffe_layer("Interp")
def interp(ctx: Any) -> None:
    ctx.expect_bottoms(1, 2)
    ctx.expect_tops(1)
    p = ctx.param("interp_param")
    shape = ctx.bottom_shape(0)
    if len(shape) != 4:
        raise ctx.fail(f"needs a 4-d bottom, got {list(shape)}")
    if p.pad_beg > 0 or p.pad_end > 0:
        raise ctx.fail("has a positive pad_beg/pad_end; Interp pads are 0 or negative (a crop)")
    h_eff, w_eff = (d + int(p.pad_beg) + int(p.pad_end) for d in shape[2:])
    if h_eff <= 0 or w_eff <= 0:
        raise ctx.fail(f"crops a {shape[2]}x{shape[3]} bottom to nothing")
    zoom, shrink = p.HasField("zoom_factor"), p.HasField("shrink_factor")
    if (zoom and p.zoom_factor < 1) or (shrink and p.shrink_factor < 1):
        raise ctx.fail("needs zoom_factor and shrink_factor of at least 1")
    if shrink or zoom:
        h, w = h_eff, w_eff
        if shrink:
            h, w = (h - 1) // p.shrink_factor + 1, (w - 1) // p.shrink_factor + 1
        if zoom:
            h, w = h + (h - 1) * (p.zoom_factor - 1), w + (w - 1) * (p.zoom_factor - 1)
    elif p.HasField("height") and p.HasField("width"):
        h, w = int(p.height), int(p.width)
    elif len(ctx.layer.bottoms) == 2:
        h, w = ctx.bottom_shape(1)[2:4]
    else:
        raise ctx.fail("sets no output size (zoom_factor, shrink_factor, height+width or a second bottom)")
    if h <= 0 or w <= 0:
        raise ctx.fail(f"makes an empty {h}x{w} output")
    x = ctx.bottom(0)
    if (h_eff, w_eff) != tuple(shape[2:]):
        begin = -int(p.pad_beg)
        x = ctx.node("Slice", [x, int64(ctx, [begin, begin], "starts"),
                               int64(ctx, [begin + h_eff, begin + w_eff], "ends"), int64(ctx, [2, 3], "axes")],
                     (*shape[:2], h_eff, w_eff), "crop")
    out = (*shape[:2], h, w)
    ctx.top(0, "Resize", [x, "", "", int64(ctx, out, "sizes")], out, mode="linear",
            coordinate_transformation_mode="align_corners")
