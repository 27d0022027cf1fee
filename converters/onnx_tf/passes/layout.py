"""Layout pass: every tensor the walker makes carries its layout, a permutation of the ONNX axis order.

ONNX is channels-first; TF's CPU kernels and TFLite's builtins are channels-last. Instead of transposing
around every convolution, a tensor stays in the axis order its producer found cheapest and is transposed
only where a consumer needs another order.

Contract:
- A layout ``perm`` of a rank-r tensor means physical axis j holds ONNX axis ``perm[j]``: the TF tensor is
  ``transpose(onnx_value, perm)``. ``identity(r)`` is the ONNX order; a tensor of unknown rank is always in it.
- Each handler declares a rule (``@onnx_op(..., layout=RULE)``). Without one it gets every input in ONNX order
  and its outputs are in ONNX order. A rule's ``plan(view)`` returns, for one node, the layout each input must
  arrive in, rewrites of axis attributes and constant inputs that make the handler's axis arithmetic act on
  physical axes, and the layout of each output; or it emits the node itself (Transpose composes layouts and
  emits no op). ``None`` means "ONNX order", always a correct answer. The rules of ops that take axis
  arguments (Concat, Reduce*, Slice, Pad, Resize, ...) live in ``layout_axes.py``.
- Graph outputs, subgraph inputs and outputs, folded constants and traced tensors are in ONNX order.
- The walker emits a transpose only where a plan asks for a layout a tensor is not in, at most once per
  (tensor, layout) in each TF graph; constants are transposed at conversion time, never in the graph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Perm", "NodeView", "Plan", "LayoutRule", "identity", "channels_last", "inverse", "between",
           "kernel_layout", "ELEMENTWISE", "ELEMENTWISE_7", "CHANNEL", "TRANSPOSE", "RESHAPE", "SHAPE", "ANY",
           "MATMUL", "ChannelsLast", "CONV", "QLINEAR_CONV", "POOL", "SPACE_DEPTH"]

Perm = tuple[int, ...]


def identity(rank: int) -> Perm:
    return tuple(range(rank))


def channels_last(rank: int) -> Perm:
    """N, C, D1, ... -> N, D1, ..., C"""
    return (0, *range(2, rank), 1)


def kernel_layout(rank: int) -> Perm:
    """A conv weight (M, C/g, k...) as TF's filter (k..., C/g, M)."""
    return (*range(2, rank), 1, 0)


def inverse(perm: Sequence[int]) -> Perm:
    out = [0] * len(perm)
    for j, a in enumerate(perm):
        out[a] = j
    return tuple(out)


def between(src: Sequence[int], dst: Sequence[int]) -> list[int]:
    """The ``tf.transpose`` permutation that takes a tensor in layout ``src`` to layout ``dst``."""
    inv = inverse(src)
    return [inv[a] for a in dst]


@dataclass
class NodeView:
    """What a rule sees of one node: attributes and, per input, its layout, ONNX-order shape and value."""

    node: Any
    opset: int
    attrs: dict[str, Any]
    present: list[bool]
    layouts: list[Perm | None]  # None: absent or of unknown rank (then in ONNX order)
    shapes: list[list[int | None] | None]  # ONNX-order static shapes; None when absent or of unknown rank
    const_fn: Callable[[int], Any]  # input i's ONNX-order numpy value when static, else None (computed lazily)
    uses: list[int] = field(default_factory=list)  # per input, how many nodes (and graph outputs) read it
    partial_fn: Callable[[int], Any] = lambda i: None  # input i's passes.shape_values.Partial, or None

    def partial(self, i: int) -> Any:
        return self.partial_fn(i) if self.has(i) else None

    def consumers(self, i: int) -> int:
        return max(self.uses[i], 1) if i < len(self.uses) else 1

    def rank(self, i: int) -> int | None:
        layout = self.layouts[i] if i < len(self.layouts) else None
        return None if layout is None else len(layout)

    def layout(self, i: int) -> Perm | None:
        return self.layouts[i] if i < len(self.layouts) else None

    def const(self, i: int) -> Any:
        return self.const_fn(i) if self.has(i) else None

    def has(self, i: int) -> bool:
        return i < len(self.present) and self.present[i]

    @property
    def num_outputs(self) -> int:
        return len(self.node.output)

    def axis(self, value: int, rank: int) -> int:
        return value + rank if value < 0 else value


@dataclass
class Plan:
    """How the walker runs one node. ``inputs[i]`` is the layout input i must arrive in (None: leave it as it
    is); ``broadcast[i] = r`` first gives a lower-rank input leading unit axes up to rank r (numpy-style
    broadcasting) so that it can take a rank-r layout; ``attrs``/``consts`` override attributes and constant
    inputs (physical meaning); ``outputs[k]`` is output k's layout (None: ONNX order); ``emit`` computes the
    outputs from the arranged inputs instead of the handler; ``channels_last`` tells a handler that declared
    ChannelsLast that its data input arrives channels-last and its output leaves so."""

    inputs: list[Perm | None]
    outputs: list[Perm | None]
    broadcast: dict[int, int] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    consts: dict[int, Any] = field(default_factory=dict)
    emit: Callable[[list[Any]], list[Any]] | None = None
    channels_last: bool = False


LayoutRule = Callable[[NodeView], Plan | None]


def _keep(view: NodeView, data: int = 0) -> Perm | None:
    """Input ``data``'s layout when it is permuted, else None (nothing to gain: ONNX order)."""
    p = view.layout(data)
    return p if p is not None and p != identity(len(p)) else None


def _others_native(view: NodeView, first: Perm, data: int = 0) -> list[Perm | None]:
    """Input ``data`` in ``first``, every other input of known rank in ONNX order."""
    out: list[Perm | None] = []
    for i in range(len(view.present)):
        rank = view.rank(i)
        out.append(first if i == data else identity(rank) if rank is not None else None)
    return out


# -- layout-free ------------------------------------------------------------------------------------
def ELEMENTWISE(view: NodeView) -> Plan | None:  # noqa: N802 - rules read as constants at the call sites
    """Numpy-broadcasting elementwise ops run in one layout of their full-rank inputs: same-rank inputs are
    brought to it, lower-rank ones gain leading unit axes first. Where those inputs disagree, the layout that
    moves the fewest elements wins, a transpose counted shared by the tensor's readers (it is made once); a
    tie keeps the first permuted layout, which keeps a CNN channels-last."""
    present = [i for i in range(len(view.present)) if view.present[i]]
    if not present or any(view.rank(i) is None for i in present):
        return None
    if view.opset < 7 and view.attrs.get("broadcast"):
        return None  # legacy axis-aligned broadcasting
    full = max(view.rank(i) for i in present)  # type: ignore[type-var]
    target = _cheapest_layout(view, [i for i in present if view.rank(i) == full])
    if target is None:
        return None
    inputs: list[Perm | None] = [None] * len(view.present)
    broadcast: dict[int, int] = {}
    for i in present:
        rank = view.rank(i)
        if rank == 0:
            continue
        inputs[i] = target
        if rank != full:
            broadcast[i] = full
    return Plan(inputs, [target] * view.num_outputs, broadcast=broadcast)


def _cheapest_layout(view: NodeView, operands: list[int]) -> Perm | None:
    """The layout among ``operands``' that the fewest elements must be transposed to (constants move at
    conversion time; a tensor read by k nodes counts 1/k); None for ONNX order. Ties go to the first permuted
    layout."""
    import math

    permuted = [view.layout(i) for i in operands if _keep(view, i)]
    if not permuted:
        return None
    moving = [i for i in operands if view.const(i) is None]

    def cost(layout: Perm) -> float:
        return sum(math.prod(d or _UNKNOWN_DIM for d in view.shapes[i] or ()) / view.consumers(i)
                   for i in moving if view.layout(i) != layout)

    candidates = list(dict.fromkeys([*permuted, identity(len(permuted[0]))]))
    best = min(candidates, key=cost)  # min keeps the first of equal costs: permuted layouts come first
    return None if best == identity(len(best)) else best


_UNKNOWN_DIM = 64  # a dynamic dim's size in _cheapest_layout's count; operands of one op mostly share it


def ELEMENTWISE_7(view: NodeView) -> Plan | None:  # noqa: N802
    """PRelu: before opset 7 a 1-D slope belongs to axis 1, not to the trailing axis."""
    return None if view.opset < 7 else ELEMENTWISE(view)


def ANY(view: NodeView) -> Plan | None:  # noqa: N802
    """Handlers that read ``ctx.layouts`` themselves (BatchNormalization, global pools, ...): input 0 keeps
    its layout, the other inputs come in ONNX order, the first output takes input 0's layout."""
    p = _keep(view)
    if p is None:
        return None
    outputs: list[Perm | None] = [p] + [None] * (view.num_outputs - 1)
    return Plan(_others_native(view, p), outputs)


def CHANNEL(view: NodeView) -> Plan | None:  # noqa: N802
    """Per-channel ops (BatchNormalization, InstanceNormalization, LRN) read ``ctx.physical_axis(1)``: like
    ANY, as long as their parameters hold one value per channel (1-D)."""
    if any(view.has(i) and view.rank(i) not in (None, 0, 1) for i in range(1, len(view.present))):
        return None
    return ANY(view)


def TRANSPOSE(view: NodeView) -> Plan | None:  # noqa: N802
    """Transpose composes with the input's layout and emits nothing."""
    p = view.layout(0)
    if p is None:
        return None
    perm = view.attrs.get("perm")
    q = [int(a) for a in perm] if perm is not None else list(reversed(range(len(p))))
    out = tuple(q.index(a) for a in p)
    return Plan([p], [out], emit=lambda xs: [xs[0]])


def SHAPE(view: NodeView) -> Plan | None:  # noqa: N802
    """Shape reads only the shape: the physical one, put back in ONNX order."""
    p = _keep(view)
    if p is None:
        return None
    if view.node.op_type == "Size":
        return Plan([p], [None])
    start, end = int(view.attrs.get("start", 0)), view.attrs.get("end")

    def emit(xs: list[Any]) -> list[Any]:
        import tensorflow as tf

        rank = len(p)
        lo = min(max(view.axis(start, rank), 0), rank)
        hi = rank if end is None else min(max(view.axis(int(end), rank), 0), rank)
        physical = xs[0].shape.as_list()
        onnx_dims = [physical[p.index(a)] for a in range(rank)][lo:hi]
        if all(d is not None for d in onnx_dims):
            return [tf.constant(onnx_dims, tf.int64, shape=[len(onnx_dims)])]
        dynamic = tf.gather(tf.shape(xs[0], out_type=tf.int64), list(inverse(p)))
        return [dynamic[lo:max(lo, hi)]]

    return Plan([p], [None], emit=emit)


# -- reshapes ---------------------------------------------------------------------------------------
def _reshape_target(view: NodeView, shape: list[int]) -> list[int] | None:
    """The ONNX output shape of a Reshape/Flatten/Squeeze/Unsqueeze with a fully static input ``shape``."""
    import math

    op, rank = view.node.op_type, len(shape)
    if op == "Flatten":
        axis = view.axis(int(view.attrs.get("axis", 1)), rank)
        return [math.prod(shape[:axis]), math.prod(shape[axis:])]
    if op in ("Squeeze", "Unsqueeze"):
        axes = view.attrs.get("axes") if view.opset < 13 else view.const(1)
        if axes is None and (op == "Unsqueeze" or view.has(1)):
            return None
        if op == "Squeeze":
            drop = {view.axis(int(a), rank) for a in axes} if axes is not None else {i for i, d in enumerate(shape) if d == 1}
            return [d for i, d in enumerate(shape) if i not in drop]
        out_rank = rank + len(list(axes))
        new = {view.axis(int(a), out_rank) for a in list(axes)}
        it = iter(shape)
        return [1 if i in new else next(it) for i in range(out_rank)]
    target = view.attrs.get("shape") if view.opset < 5 else view.const(1)
    if target is None:
        return None
    out = [int(d) for d in list(target.reshape(-1) if hasattr(target, "reshape") else target)]
    if not view.attrs.get("allowzero", 0):
        out = [shape[i] if d == 0 and i < rank else d for i, d in enumerate(out)]
    if out.count(-1) == 1:
        known = math.prod(d for d in out if d != -1)
        if known == 0:
            return None
        out[out.index(-1)] = math.prod(shape) // known
    return out if all(d >= 0 for d in out) and math.prod(out) == math.prod(shape) else None


def _groups(src: list[int], dst: list[int]) -> list[tuple[list[int], list[int]]] | None:
    """Split the non-unit axes of two shapes with equal products into minimal runs of equal product."""
    a = [i for i, d in enumerate(src) if d != 1]
    b = [i for i, d in enumerate(dst) if d != 1]
    groups, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        ga, gb, pa, pb = [a[i]], [b[j]], src[a[i]], dst[b[j]]
        i, j = i + 1, j + 1
        while pa != pb:
            if pa < pb and i < len(a):
                ga.append(a[i])
                pa *= src[a[i]]
                i += 1
            elif pb < pa and j < len(b):
                gb.append(b[j])
                pb *= dst[b[j]]
                j += 1
            else:
                return None
        groups.append((ga, gb))
    return groups if i == len(a) and j == len(b) else None


def _gathered(p: Perm, shape: list[int], groups: list[tuple[list[int], list[int]]]) -> Perm:
    """``p`` with each group's ONNX axes side by side and in order, where its first axis sits in ``p``."""
    group_of = {a: k for k, (src, _) in enumerate(groups) for a in src}
    q: list[int] = []
    for a in p:
        if shape[a] == 1:
            q.append(a)
        elif not set(groups[group_of[a]][0]) & set(q):
            q += groups[group_of[a]][0]
    return tuple(q)


def RESHAPE(view: NodeView) -> Plan | None:  # noqa: N802
    """Reshape, Flatten, Squeeze and Unsqueeze act on the physical tensor when every run of merged or split
    ONNX axes lies in order, side by side, in the physical layout; unit axes go anywhere. Otherwise the input
    is brought to ONNX order first; or, when the result is a channels-last image tensor (a channel shuffle's
    merge), to the layout that gathers each run, which leaves the result channels-last for the next conv."""
    p, shape = _keep(view), view.shapes[0]
    if p is None or shape is None or any(d is None for d in shape) or 0 in shape:
        return None
    target = _reshape_target(view, shape)  # type: ignore[arg-type]
    groups = _groups(shape, target) if target is not None else None  # type: ignore[arg-type]
    if not groups:
        return None
    q = _gathered(p, shape, groups)  # type: ignore[arg-type]
    physical = [a for a in q if shape[a] != 1]
    if physical == [a for a in p if shape[a] != 1]:
        q = p  # already in order: unit axes may sit anywhere
    starts = [physical.index(src_axes[0]) for src_axes, _ in groups]
    order: list[int] = []
    for _, (_, dst_axes) in sorted(zip(starts, groups)):
        order += dst_axes
    for axis, size in enumerate(target):  # unit axes follow their ONNX predecessor
        if size == 1:
            order.insert(order.index(axis - 1) + 1 if axis > 0 else 0, axis)
    out = tuple(order)
    if q != p and (len(out) < 4 or out != channels_last(len(out))):
        return None
    physical_shape = [target[a] for a in out]

    def emit(xs: list[Any]) -> list[Any]:
        import tensorflow as tf

        return [tf.reshape(xs[0], physical_shape)]

    return Plan([q], [out], emit=emit)


# -- matrix products -------------------------------------------------------------------------------
def MATMUL(view: NodeView) -> Plan | None:  # noqa: N802
    """MatMul takes each permuted operand of rank >= 2 either in ONNX order or with its last two axes
    swapped (the handler then multiplies by the transpose, ``_transpose_a``/``_transpose_b``): whichever keeps
    the operand's innermost physical axis innermost, the cheap transpose (none, for a K^T the exporter wrote
    as a Transpose of K). The product leaves in ONNX order."""
    if any(view.rank(i) is None or view.rank(i) < 2 for i in (0, 1)) or not (_keep(view, 0) or _keep(view, 1)):
        return None
    inputs: list[Perm | None] = []
    attrs: dict[str, Any] = {}
    for i, flag in ((0, "_transpose_a"), (1, "_transpose_b")):
        p, r = view.layout(i), view.rank(i)
        swapped = (*range(r - 2), r - 1, r - 2)  # type: ignore[operator]
        take = swapped if p is not None and p[-1] == r - 2 else identity(r)  # type: ignore[arg-type]
        inputs.append(take)
        attrs[flag] = int(take == swapped)
    return Plan(inputs, [None], attrs=attrs)


# -- channels-last kernels --------------------------------------------------------------------------
class ChannelsLast:
    """Handlers written for channels-last data (Conv, pools, DepthToSpace): ``data`` inputs arrive as
    (N, D..., C), ``kernels`` inputs in TF's filter layout, the first output leaves channels-last. A handler
    must also run without the plan (``ctx.channels_last`` false, e.g. unknown rank): then its inputs and
    output are in ONNX order and it transposes itself (``ops/_common.py``)."""

    def __init__(self, data: Sequence[int] = (0,), kernels: Sequence[int] = ()) -> None:
        self.data, self.kernels = tuple(data), tuple(kernels)

    def __call__(self, view: NodeView) -> Plan | None:
        rank = view.rank(self.data[0])
        if rank is None or rank < 3 or any(view.rank(i) is None for i in self.kernels if view.has(i)):
            return None
        inputs: list[Perm | None] = []
        for i in range(len(view.present)):
            r = view.rank(i)
            if not view.has(i) or r is None:
                inputs.append(None)
            elif i in self.data:
                inputs.append(channels_last(r))
            elif i in self.kernels and r >= 3:
                inputs.append(kernel_layout(r))
            else:
                inputs.append(identity(r))
        outputs: list[Perm | None] = [channels_last(rank)] + [None] * (view.num_outputs - 1)
        return Plan(inputs, outputs, channels_last=True)


CONV = ChannelsLast(data=(0,), kernels=(1,))
QLINEAR_CONV = ChannelsLast(data=(0,), kernels=(3,))
POOL = ChannelsLast(data=(0,))
SPACE_DEPTH = ChannelsLast(data=(0,))
