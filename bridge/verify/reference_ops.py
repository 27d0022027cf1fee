"""Kernels that replace onnx's reference implementations in the float64 truth run (bridge.verify.noise).

onnx's reference ``Conv`` widens a dilated kernel into a dense one and unfolds the input for it (im2col):
a 3-tap convolution with dilation 4096 over 128 channels and 7,500 steps asks for 63 GB of float64. The
``Conv`` here sums one strided slice per kernel tap instead, so memory stays at the size of the input and
output whatever the dilation, and the products still run through BLAS in float64.
"""

from __future__ import annotations

from typing import Any

__all__ = ["reference_ops", "conv"]


def _same_pads(spatial: Any, kernel: Any, strides: Any, dilations: Any, lower: bool) -> list[int]:
    head, tail = [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations):
        need = max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)
        first = (need + 1) // 2 if lower else need // 2
        head.append(first)
        tail.append(need - first)
    return head + tail


def conv(x: Any, w: Any, b: Any = None, auto_pad: str = "NOTSET", dilations: Any = None, group: int = 1,
         pads: Any = None, strides: Any = None) -> Any:
    """ONNX Conv (N, C, *spatial) x (M, C/group, *kernel), summed tap by tap."""
    import numpy as np

    rank = x.ndim - 2
    kernel = w.shape[2:]
    dilations = list(dilations or [1] * rank)
    strides = list(strides or [1] * rank)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = _same_pads(x.shape[2:], kernel, strides, dilations, auto_pad == "SAME_LOWER")
    elif auto_pad == "VALID" or pads is None:
        pads = [0] * (2 * rank)
    padded = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[i + rank]) for i in range(rank)])
    out = [max(0, (padded.shape[2 + i] - (kernel[i] - 1) * dilations[i] - 1) // strides[i] + 1) for i in range(rank)]
    n, c = x.shape[:2]
    m = w.shape[0]
    xg = padded.reshape(n, group, c // group, *padded.shape[2:])
    wg = w.reshape(group, m // group, c // group, *kernel)
    y = np.zeros((n, group, m // group, int(np.prod(out))), dtype=np.result_type(x, w))
    every = (slice(None),) * 3
    for tap in np.ndindex(*kernel):
        window = tuple(slice(t * d, t * d + s * (o - 1) + 1, s) for t, d, s, o in zip(tap, dilations, strides, out))
        patch = xg[every + window].reshape(n, group, c // group, -1)  # (N, G, C/G, positions)
        y += wg[every + tap][None] @ patch  # (1, G, M/G, C/G) @ (N, G, C/G, positions)
    y = y.reshape(n, m, *out)
    if b is not None:
        y += b.reshape(1, m, *[1] * rank)
    return y


def reference_ops() -> list[type]:
    """The op classes to pass as ``ReferenceEvaluator(new_ops=...)``."""
    from onnx.reference.op_run import OpRun

    class Conv(OpRun):  # the name is the op it replaces
        def _run(self, x: Any, w: Any, b: Any = None, auto_pad: str = "NOTSET", dilations: Any = None,
                 group: int = 1, kernel_shape: Any = None, pads: Any = None, strides: Any = None) -> Any:
            return (conv(x, w, b, auto_pad or "NOTSET", dilations, group or 1, pads, strides),)

    return [Conv]
