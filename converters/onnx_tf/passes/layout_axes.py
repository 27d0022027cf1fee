"""Layout rules of the ops that take axis arguments: Concat, Split and the axis family, TopK, the cumulative
ops, Reduce* and ArgMax/ArgMin, Gather, Slice, Pad, Tile, Expand and Resize.

Each maps the ONNX axes a node names (attributes or constant inputs) onto the physical axes of the layout its
data input arrives in, so the handler's own axis arithmetic acts on the tensor it holds; see ``layout.py``
for the contract.
"""

from __future__ import annotations

from collections.abc import Sequence

from bridge_converters.onnx_tf.passes.layout import NodeView, Perm, Plan, _keep, _others_native, channels_last, identity

__all__ = ["CONCAT", "AXIS", "AXIS_13", "REDUCE", "ARG", "TOPK", "CUMULATIVE", "GATHER", "SLICE", "PAD", "TILE",
           "EXPAND", "RESIZE"]


def _renumber(axes: Sequence[int]) -> Perm:
    """A layout over the surviving ONNX axes, renumbered densely in their order (for removed axes)."""
    order = sorted(axes)
    return tuple(order.index(a) for a in axes)


def _common_layout(view: NodeView, indices: Sequence[int]) -> Perm | None:
    ranks = {view.rank(i) for i in indices}
    if None in ranks or len(ranks) != 1:
        return None
    return next((view.layout(i) for i in indices if _keep(view, i)), None)


def CONCAT(view: NodeView) -> Plan | None:  # noqa: N802
    present = [i for i in range(len(view.present)) if view.present[i]]
    p = _common_layout(view, present)
    if p is None:
        return None
    axis = view.axis(int(view.attrs.get("axis", 1)), len(p))
    return Plan([p if view.present[i] else None for i in range(len(view.present))], [p],
                attrs={"axis": p.index(axis)})


def _axis_plan(view: NodeView, default: int, outputs: int | None = None) -> Plan | None:
    p = _keep(view)
    if p is None:
        return None
    axis = view.axis(int(view.attrs.get("axis", default)), len(p))
    n = view.num_outputs if outputs is None else outputs
    return Plan(_others_native(view, p), [p] * n, attrs={"axis": p.index(axis)})


def AXIS(view: NodeView) -> Plan | None:  # noqa: N802
    """One ``axis`` attribute (default -1, or 0 for Split); outputs keep the layout (Split, LpNormalization)."""
    return _axis_plan(view, 0 if view.node.op_type == "Split" else -1)


def AXIS_13(view: NodeView) -> Plan | None:  # noqa: N802
    """Softmax, LogSoftmax, Hardmax: from opset 13 one axis; before, a 2-D coercion at ``axis``."""
    if view.opset < 13:
        return None
    return _axis_plan(view, -1)


def TOPK(view: NodeView) -> Plan | None:  # noqa: N802
    return _axis_plan(view, -1)


def CUMULATIVE(view: NodeView) -> Plan | None:  # noqa: N802
    """CumSum/CumProd: the axis is a (constant) input."""
    import numpy as np

    p, axis = _keep(view), view.const(1)
    if p is None or axis is None:
        return None
    physical = p.index(view.axis(int(np.asarray(axis).reshape(-1)[0]), len(p)))
    return Plan(_others_native(view, p), [p], consts={1: np.asarray(physical, dtype=np.asarray(axis).dtype)})


def REDUCE(view: NodeView) -> Plan | None:  # noqa: N802
    """Reduce*: axes from the attribute or a constant input; reduced axes leave the layout with keepdims=0."""
    import numpy as np

    p = _keep(view)
    if p is None:
        return None
    rank = len(p)
    from_input = view.has(1)
    if from_input and view.const(1) is None:
        return None
    raw = view.const(1).reshape(-1).tolist() if from_input else view.attrs.get("axes")
    if raw is not None and len(raw) == 0:
        raw = None if not view.attrs.get("noop_with_empty_axes", 0) else []
    axes = [view.axis(int(a), rank) for a in raw] if raw is not None else list(range(rank))
    keep = bool(view.attrs.get("keepdims", 1))
    out = p if keep else _renumber([a for a in p if a not in axes])
    physical = [p.index(a) for a in axes]
    plan = Plan(_others_native(view, p), [out])
    if raw is None:
        return plan  # all axes: nothing to rewrite
    if from_input:
        plan.consts[1] = np.asarray(physical, np.int64)
    else:
        plan.attrs["axes"] = physical
    return plan


def ARG(view: NodeView) -> Plan | None:  # noqa: N802
    p = _keep(view)
    if p is None:
        return None
    axis = view.axis(int(view.attrs.get("axis", 0)), len(p))
    out = p if view.attrs.get("keepdims", 1) else _renumber([a for a in p if a != axis])
    return Plan([p], [out], attrs={"axis": p.index(axis)})


def GATHER(view: NodeView) -> Plan | None:  # noqa: N802
    """Gather along one axis with scalar or 1-D indices: the axis is removed or keeps its place."""
    p, q = _keep(view), view.rank(1)
    if p is None or q not in (0, 1):
        return None
    axis = view.axis(int(view.attrs.get("axis", 0)), len(p))
    out = p if q == 1 else _renumber([a for a in p if a != axis])
    return Plan([p, identity(q)], [out], attrs={"axis": p.index(axis)})  # type: ignore[arg-type]


def SLICE(view: NodeView) -> Plan | None:  # noqa: N802
    import numpy as np

    p = _keep(view)
    if p is None:
        return None
    rank = len(p)
    if view.opset < 10:
        starts = view.attrs.get("starts")
        axes = view.attrs.get("axes", list(range(len(starts))))
        return Plan([p], [p], attrs={"axes": [p.index(view.axis(int(a), rank)) for a in axes]})
    if any(view.has(i) and view.const(i) is None for i in (1, 2, 3, 4)):
        return None
    n = view.const(1).size
    axes = view.const(3).reshape(-1).tolist() if view.has(3) else list(range(n))
    physical = np.asarray([p.index(view.axis(int(a), rank)) for a in axes], np.int64)
    return Plan(_others_native(view, p), [p], consts={3: physical})


def PAD(view: NodeView) -> Plan | None:  # noqa: N802
    import numpy as np

    p = _keep(view)
    if p is None:
        return None
    rank = len(p)
    if view.opset < 11:
        pads = view.attrs.get("pads", view.attrs.get("paddings"))
        return Plan([p], [p], attrs={"pads": [pads[a] for a in p] + [pads[rank + a] for a in p]})
    if view.const(1) is None or (view.has(3) and view.const(3) is None):
        return None
    if view.has(3):  # opset 18 axes: rename them, the pads stay paired with them
        axes = [p.index(view.axis(int(a), rank)) for a in view.const(3).reshape(-1)]
        return Plan(_others_native(view, p), [p], consts={3: np.asarray(axes, np.int64)})
    pads = view.const(1).reshape(-1)
    return Plan(_others_native(view, p), [p], consts={1: np.concatenate([pads[list(p)], pads[[rank + a for a in p]]])})


def TILE(view: NodeView) -> Plan | None:  # noqa: N802
    p, repeats = _keep(view), view.const(1)
    if p is None or repeats is None or view.opset < 6:
        return None
    return Plan(_others_native(view, p), [p], consts={1: repeats.reshape(-1)[list(p)]})


def EXPAND(view: NodeView) -> Plan | None:  # noqa: N802
    p, shape = _keep(view), view.const(1)
    if p is None or shape is None or shape.size != len(p):
        return None
    return Plan(_others_native(view, p), [p], consts={1: shape.reshape(-1)[list(p)]})


def _size_factors(view: NodeView, onnx_axes: list[int], shape: list[int | None]) -> list[float] | None:
    """Per resized axis, the factor that constant ``sizes`` give, or run-time sizes known in part: an entry
    that is the data's own run-time dim (passes/shape_values.py) keeps that axis (factor 1)."""
    from bridge_converters.onnx_tf.passes.shape_values import DimOf, is_dim_of

    const, partial = view.const(3), view.partial(3)
    entries = list(const.reshape(-1)) if const is not None else list(partial.entries) if partial else None
    if entries is None or len(entries) != len(onnx_axes):
        return None
    factors = []
    for e, a in zip(entries, onnx_axes):
        if is_dim_of(e, view.node.input[0], a):
            factors.append(1.0)
        elif not isinstance(e, DimOf) and e is not None and shape[a]:
            factors.append(float(e) / shape[a])
        else:
            return None
    return factors


def RESIZE(view: NodeView) -> Plan | None:  # noqa: N802
    """Resize/Upsample work per axis, so any layout will do (``axes`` is rewritten); a 4-D resize of the two
    spatial axes asks for channels-last, where TF's resize kernels (TFLite's RESIZE_* builtins) apply."""
    import numpy as np

    rank = view.rank(0)
    if rank is None:
        return None
    p = view.layout(0)
    factors = None
    if view.node.op_type == "Upsample" and view.opset < 9:
        factors = np.asarray(view.attrs.get("scales"))
    elif view.node.op_type == "Upsample" or (view.node.op_type == "Resize" and view.opset < 11):
        factors = view.const(1)
    else:
        factors = view.const(2) if view.has(2) and view.const(2) is not None and view.const(2).size else None
    onnx_axes = [view.axis(int(a), rank) for a in view.attrs.get("axes") or range(rank)]
    shape = view.shapes[0]
    if factors is None and view.has(3) and shape is not None:
        factors = _size_factors(view, onnx_axes, shape)
    spatial = factors is not None and len(factors) == len(onnx_axes) and rank == 4 and all(
        np.isclose(f, 1.0) for a, f in zip(onnx_axes, np.asarray(factors, np.float64)) if a < 2)
    target = channels_last(rank) if spatial else p
    if target is None or target == identity(rank):
        return None
    inputs = _others_native(view, target)
    return Plan(inputs, [target], attrs={"axes": [target.index(a) for a in onnx_axes]})
