"""Helpers shared by op families: the channels-last boundary, axis handling, spatial padding."""

from __future__ import annotations

from typing import Any

__all__ = ["to_channels_last", "to_channels_first", "data_in", "data_out", "kernel_in", "norm_axis", "spatial_pads",
           "same_pads", "static_shape"]


# Handlers with a ChannelsLast layout rule (passes/layout.py) compute in TF's (N, D..., C) order. Under the
# rule their data input already arrives so and their output leaves so (no transposes here); without it
# (ctx.channels_last false: unknown rank, folding corner cases) these helpers transpose at the boundary.
def data_in(ctx: Any, i: int = 0, rank: int | None = None) -> Any:
    """Data input ``i`` channels-last; ``rank`` (e.g. the kernel's) where the tensor's own is unknown."""
    x = ctx.inputs[i]
    if ctx.channels_last:
        return x
    if x.shape.rank is None and rank is not None:
        x.set_shape([None] * rank)  # no op: only the static shape learns the rank
    return to_channels_last(x)


def data_out(ctx: Any, y: Any) -> Any:
    """A channels-last result as the node's first output."""
    return y if ctx.channels_last else to_channels_first(y)


def kernel_in(ctx: Any, i: int) -> Any:
    """Conv weight input ``i`` in TF's filter layout (k..., C/group, M) from ONNX's (M, C/group, k...)."""
    import tensorflow as tf

    w = ctx.inputs[i]
    if ctx.channels_last:
        return w
    rank = w.shape.rank
    return tf.transpose(w, [*range(2, rank), 1, 0])


def to_channels_last(x: Any) -> Any:
    """NC... -> N...C"""
    import tensorflow as tf

    rank = x.shape.rank
    return tf.transpose(x, [0, *range(2, rank), 1])


def to_channels_first(x: Any) -> Any:
    """N...C -> NC..."""
    import tensorflow as tf

    rank = x.shape.rank
    return tf.transpose(x, [0, rank - 1, *range(1, rank - 1)])


def norm_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def static_shape(x: Any) -> list[int | None]:
    return list(x.shape.as_list()) if x.shape.rank is not None else []


def same_pads(in_spatial: list[int | None], kernel: list[int], strides: list[int],
              dilations: list[int]) -> list[tuple[int, int]] | None:
    """The (begin, end) pads TF's "SAME" padding applies to these static sizes (None when a size is unknown)."""
    if any(d is None for d in in_spatial):
        return None
    pads = []
    for size, k, s, d in zip(in_spatial, kernel, strides, dilations):
        total = max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)  # type: ignore[operator]
        pads.append((total // 2, total - total // 2))
    return pads


def spatial_pads(ctx: Any, in_spatial: list[int | None], kernel: list[int], strides: list[int],
                 dilations: list[int]) -> list[tuple[int, int]]:
    """Explicit (begin, end) pads per spatial axis from ``pads`` or ``auto_pad`` (SAME_UPPER/LOWER, VALID)."""
    n = len(kernel)
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for i in range(n):
            size = in_spatial[i]
            if size is None:
                raise ctx.unsupported("auto_pad SAME needs static spatial sizes")
            out = -(-size // strides[i])
            eff_k = (kernel[i] - 1) * dilations[i] + 1
            total = max(0, (out - 1) * strides[i] + eff_k - size)
            small = total // 2
            pads.append((small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small))
        return pads
    if auto_pad == "VALID":
        return [(0, 0)] * n
    flat = list(ctx.attr("pads", [0] * (2 * n)))
    return [(int(flat[i]), int(flat[i + n])) for i in range(n)]
