"""Helpers shared by op families: layout transposes, axis handling, spatial padding."""

from __future__ import annotations

from typing import Any

__all__ = ["to_channels_last", "to_channels_first", "channels_last_twin", "remember_channels_last", "norm_axis",
           "spatial_pads", "static_shape"]


# Layout twins. ONNX is channels-first and TF's CPU kernels channels-last, so each conv or pool transposes
# its input in and its output back. A tensor made by ``to_channels_first`` remembers the channels-last
# tensor it came from, and the walker passes that on through layout-free elementwise ops (Relu, Add, ...),
# so the next conv reads the channels-last twin instead of transposing again. A twin is built on first
# use only, and TF prunes whichever layout ends up unused.
_TWIN = "_bridge_channels_last"


def remember_channels_last(nchw: Any, make: Any) -> None:
    """Record ``make()`` as the channels-last form of ``nchw``; built once, on first use."""
    built: list[Any] = []

    def twin() -> Any:
        if not built:
            built.append(make())
        return built[0]

    try:
        setattr(nchw, _TWIN, twin)
    except AttributeError:  # some tensor types take no attributes: no twin, a transpose instead
        pass


def channels_last_twin(x: Any) -> Any:
    """The callable that gives ``x`` channels-last without a transpose, or None."""
    return getattr(x, _TWIN, None)


def to_channels_last(x: Any) -> Any:
    """NC... -> N...C"""
    import tensorflow as tf

    twin = channels_last_twin(x)
    if twin is not None:
        return twin()
    rank = x.shape.rank
    return tf.transpose(x, [0, *range(2, rank), 1])


def to_channels_first(x: Any) -> Any:
    """N...C -> NC..."""
    import tensorflow as tf

    rank = x.shape.rank
    nchw = tf.transpose(x, [0, rank - 1, *range(1, rank - 1)])
    remember_channels_last(nchw, lambda: x)
    return nchw


def norm_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def static_shape(x: Any) -> list[int | None]:
    return list(x.shape.as_list()) if x.shape.rank is not None else []


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
