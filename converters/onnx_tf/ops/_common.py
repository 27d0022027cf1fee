"""Helpers shared by op families: the channels-last boundary, axis handling, spatial padding."""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Forms", "traced_forms", "float64_kept", "permute", "to_channels_last", "to_channels_first", "data_in",
           "data_out", "kernel_in", "norm_axis", "spatial_pads", "same_pads", "same_total", "static_shape",
           "exact_in_float32", "bias_add", "as_bias_add", "on_product_rows"]


_AXES = "abcdefghijklmnopqrstuvwxyz"  # einsum subscripts


@dataclass
class Forms:
    """Which forms a trace writes where TF and TFLite run different ones fastest.

    ``tflite`` is set for the graph the tf -> tflite edge converts; the SavedModel's own serving function
    takes TF's forms and counts in ``tf_only`` how many it wrote that TFLite would run slower (the tf ->
    tflite edge rebuilds in TFLite's forms only when there are any)."""

    tflite: bool = False
    tf_only: int = 0


_FORMS: contextvars.ContextVar[Forms | None] = contextvars.ContextVar("bridge_forms", default=None)


@contextlib.contextmanager
def traced_forms(tflite: bool = False) -> Iterator[Forms]:
    """The forms every handler traced inside this block writes (TF's, outside any block)."""
    forms = Forms(tflite=tflite)
    token = _FORMS.set(forms)
    try:
        yield forms
    finally:
        _FORMS.reset(token)


def float64_kept() -> bool:
    """Whether a handler that would compute in float64 may: yes in TF's forms (counted as a TF-only form), no
    in TFLite's, which has no float64 kernels beyond CAST and BITCAST. Ask once per node."""
    forms = _FORMS.get()
    if forms is not None and forms.tflite:
        return False
    if forms is not None:
        forms.tf_only += 1
    return True


# Up to this many elements, moving one short axis (an image's 2-4 channels) by Unpack and Pack beats a
# Transpose in TF: both run inline on one thread, where the Transpose (oneDNN's reorder or Eigen's) wakes the
# intra-op pool, about 100 us on a 2-thread CPU. Above it the copy itself dominates and the Transpose wins.
_UNPACK_MAX_ELEMENTS = 8192
_UNPACK_MAX_AXIS = 4


def _short_axis_move(dims: list[int], order: list[int]) -> tuple[int, int] | None:
    """(source, target) where ``order`` moves a channel axis of 2-4 elements between position 1 and the end
    (to channels-last or back) and keeps the other axes in order: the measured case, an image at the
    graph's boundary."""
    rank = len(dims)
    if rank < 3 or math.prod(dims) > _UNPACK_MAX_ELEMENTS:
        return None
    for src, dst in ((1, rank - 1), (rank - 1, 1)):
        rest = [a for a in range(rank) if a != src]
        if 1 < dims[src] <= _UNPACK_MAX_AXIS and order == [*rest[:dst], src, *rest[dst:]]:
            return src, dst
    return None


def permute(x: Any, perm: Any = None) -> Any:
    """``tf.transpose(x, perm)`` (``perm`` None reverses the axes). A float32 tensor of known rank is permuted
    by a one-operand Einsum instead: with oneDNN on, TF rewrites a float32 Transpose into a oneDNN reorder
    that costs 100-150 us more a call than the Einsum's Eigen transpose, from tiny attention heads up to
    BERT-base activations; TFLite's converter makes the Einsum one TRANSPOSE all the same. A permutation that
    moves only axes of size 1 is a Reshape (no copy, and RESHAPE in TFLite). In TF's forms, a small tensor
    whose permutation moves one short axis (an image input's channels to the end) is Unpack then Pack
    (``_UNPACK_MAX_ELEMENTS``); TFLite would run those as two undelegated ops, so its forms keep the Einsum."""
    import tensorflow as tf

    rank = x.shape.rank
    if rank is None or rank > len(_AXES) or (perm is not None and tf.is_tensor(perm)):
        return tf.transpose(x, perm)
    order = [int(a) for a in perm] if perm is not None else list(reversed(range(rank)))
    if order == list(range(rank)):
        return x
    dims = x.shape.as_list()
    if None not in dims and [a for a in order if dims[a] != 1] == [a for a in range(rank) if dims[a] != 1]:
        return tf.reshape(x, [dims[a] for a in order])
    if x.dtype != tf.float32:
        return tf.transpose(x, order)
    forms = _FORMS.get()
    move = None if None in dims or (forms is not None and forms.tflite) else _short_axis_move(dims, order)
    if move is not None:
        if forms is not None:
            forms.tf_only += 1
        return tf.stack(tf.unstack(x, axis=move[0]), axis=move[1])
    return tf.einsum(f"{_AXES[:rank]}->{''.join(_AXES[a] for a in order)}", x)


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
    w = ctx.inputs[i]
    if ctx.channels_last:
        return w
    rank = w.shape.rank
    return permute(w, [*range(2, rank), 1, 0])


def to_channels_last(x: Any) -> Any:
    """NC... -> N...C"""
    rank = x.shape.rank
    return permute(x, [0, *range(2, rank), 1])


def to_channels_first(x: Any) -> Any:
    """N...C -> NC..."""
    rank = x.shape.rank
    return permute(x, [0, rank - 1, *range(1, rank - 1)])


def norm_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def static_shape(x: Any) -> list[int | None]:
    return list(x.shape.as_list()) if x.shape.rank is not None else []


def bias_add(y: Any, bias: Any) -> Any:
    """``y`` plus a vector along its last axis as BiasAdd, which TF fuses into the MatMul or Conv2D before it,
    except after a grouped Conv2D: TF's fused convolution kernels have no grouped form (outside oneDNN) and
    fail when the graph runs ("Fused conv implementation does not support grouped convolutions"), so there
    the sum stays an AddV2, which nothing fuses into the convolution."""
    import tensorflow as tf

    conv = getattr(y, "op", None)  # eager tensors have no producing op
    if conv is not None and conv.type == "Conv2D" and conv.inputs[1].shape[-2] != conv.inputs[0].shape[-1]:
        return y + bias
    product = _reshaped_product(y, "MatMul")
    if product is not None:
        return tf.reshape(tf.nn.bias_add(product, bias), y.op.inputs[1])
    return tf.nn.bias_add(y, bias)


def as_bias_add(a: Any, b: Any) -> Any:
    """A float tensor plus a vector along its last axis as BiasAdd (``bias_add``): the same sum, element by
    element, that TF fuses into the MatMul or Conv2D before it. None for any other sum."""
    for x, v in ((a, b), (b, a)):
        if (x.dtype.is_floating and x.dtype == v.dtype and (x.shape.rank or 0) >= 2 and v.shape.rank == 1
                and v.shape[0] is not None and v.shape[0] == x.shape[-1] and v.shape[0] > 1):
            return bias_add(x, v)
    return None


def _reshaped_product(y: Any, producer: str) -> Any:
    """``m`` where ``y`` is ``reshape(m)`` of a rank-2 ``m`` made by a ``producer`` op, the last axis kept:
    how ``linalg`` writes a (..., K) x (K, N) product, as one 2-D MatMul between two reshapes."""
    op = getattr(y, "op", None)
    if op is None or op.type != "Reshape":
        return None
    m = op.inputs[0]
    if m.op.type != producer or m.shape.rank != 2 or m.shape[-1] is None or y.shape.rank is None:
        return None
    return m if y.shape[-1] == m.shape[-1] else None


def on_product_rows(y: Any, fn: Callable[[Any], Any]) -> Any:
    """``fn(y)`` for an ``fn`` that maps each row of y's last axis on its own (an activation).

    After a (..., K) x (K, N) product and its bias, ``fn`` is applied to the 2-D sum, before the reshape
    back: there TF's optimiser fuses MatMul, BiasAdd and the activation (Relu, Tanh, Sigmoid, GELU) into
    one kernel, which a reshape in between prevents. TFLite folds the reshapes either way.
    """
    import tensorflow as tf

    product = _reshaped_product(y, "BiasAdd")
    if product is None or product.op.inputs[0].op.type != "MatMul":
        return fn(y)
    return tf.reshape(fn(product), y.op.inputs[1])


def same_total(size: int | None, kernel: int, stride: int, dilation: int) -> int | None:
    """The total pad TF's "SAME" padding adds along one axis; over an unknown size it is known only at stride 1
    (None otherwise)."""
    eff = (kernel - 1) * dilation + 1
    if size is None:
        return eff - 1 if stride == 1 else None
    return max(0, (-(-size // stride) - 1) * stride + eff - size)


def same_pads(in_spatial: list[int | None], kernel: list[int], strides: list[int],
              dilations: list[int]) -> list[tuple[int, int]] | None:
    """The (begin, end) pads TF's "SAME" padding applies to these static sizes (None when a size is unknown)."""
    if any(d is None for d in in_spatial):
        return None
    totals = [same_total(*axis) for axis in zip(in_spatial, kernel, strides, dilations)]
    return [(t // 2, t - t // 2) for t in totals]  # type: ignore[operator]


def spatial_pads(ctx: Any, in_spatial: list[int | None], kernel: list[int], strides: list[int],
                 dilations: list[int]) -> list[tuple[int, int]]:
    """Explicit (begin, end) pads per spatial axis from ``pads`` or ``auto_pad`` (SAME_UPPER/LOWER, VALID)."""
    n = len(kernel)
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for i in range(n):
            if in_spatial[i] is None:
                raise ctx.unsupported("auto_pad SAME needs static spatial sizes")
            total = same_total(in_spatial[i], kernel[i], strides[i], dilations[i])
            small = total // 2  # type: ignore[operator]
            pads.append((small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small))
        return pads
    if auto_pad == "VALID":
        return [(0, 0)] * n
    flat = list(ctx.attr("pads", [0] * (2 * n)))
    return [(int(flat[i]), int(flat[i + n])) for i in range(n)]


# Every integer of magnitude below 2**24 is exact in float32, so a sum of integer products whose partial sums
# stay below it is exact in float32 in any order: integer convolutions and matmuls then run on TFLite's float
# builtins (CONV_2D, FULLY_CONNECTED) instead of float64 or int32 kernels only the Flex delegate has.
_FLOAT32_EXACT = 2**24


def _deviation(ctx: Any, i: int, zero_point: int | None) -> int | None:
    """The largest |q - zero_point| integer input ``i`` can hold (its whole span when the zero point is only
    known at run time); None for a non-integer input."""
    import numpy as np

    dtype = ctx.inputs[i].dtype
    if not dtype.is_integer:
        return None
    low, high = int(dtype.min), int(dtype.max)
    if zero_point is None or not ctx.has_input(zero_point):
        zp = np.zeros(1, np.int64)
    else:
        zp = ctx.const(zero_point)
        if zp is None:
            return high - low
        zp = np.asarray(zp, np.int64).reshape(-1)
    return int(np.maximum(zp - low, high - zp).max())


def exact_in_float32(ctx: Any, data: int, data_zp: int | None, weight: int, weight_zp: int | None,
                     out_axis: int | None, bias: int | None = None, data_span: int | None = None) -> bool:
    """Whether every output of sum_k (x - x_zp)(w - w_zp) (+ bias) is provably below 2**24 in magnitude, for
    any value of the data input: from the constant weight's per-output sums of |w - w_zp| where it is known
    (``out_axis``: the weight's output axis in the layout the handler holds, None for one output), from the
    types' spans otherwise. ``data_span`` bounds |x - x_zp| for data the op quantises itself (float input)."""
    import numpy as np

    x_dev = data_span if data_span is not None else _deviation(ctx, data, data_zp)
    w_dev = _deviation(ctx, weight, weight_zp)
    if x_dev is None or w_dev is None:
        return False
    w = ctx.const(weight)
    zp = ctx.const(weight_zp) if weight_zp is not None and ctx.has_input(weight_zp) else 0
    if w is None or zp is None:
        dims = static_shape(ctx.inputs[weight])
        if out_axis is not None:
            del dims[out_axis]
        if any(d is None for d in dims):
            return False
        w_sum = int(np.prod(dims, dtype=np.int64)) * w_dev
    else:
        rows = np.asarray(w, np.int64)
        rows = np.moveaxis(rows, out_axis, 0) if out_axis is not None else rows[np.newaxis]
        rows = rows.reshape(rows.shape[0], -1) - np.asarray(zp, np.int64).reshape(-1, 1)
        w_sum = int(np.abs(rows).sum(axis=1).max(initial=0))
    bound = x_dev * w_sum
    if bias is not None and ctx.has_input(bias):
        b = ctx.const(bias)
        if b is None:
            return False
        bound += int(np.abs(np.asarray(b, np.int64)).max(initial=0))
    return bound < _FLOAT32_EXACT
