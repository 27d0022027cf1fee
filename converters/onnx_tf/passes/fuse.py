"""Fusions on the ONNX graph before it is converted, each exact up to float rounding.

- ``fold_batch_norm``: Conv or ConvTranspose followed by an inference BatchNormalization with constant
  parameters (and nothing else reading the convolution's output) becomes one convolution with rescaled
  weights and a bias. TensorFlow's optimiser cannot fold the BatchNormalization's multiply and add into
  the kernel; TFLite's converter can, but the SavedModel would keep them.
- ``merge_pad``: a constant-zero Pad of the spatial axes only, read by nothing but a Conv, becomes that Conv's
  own padding (TFLite then sees one CONV_2D, padded SAME where that is exact).
- ``fuse_gelu``: the exact GELU written out, ``0.5 * x * (1 + erf(x / sqrt(2)))`` in any of the orders
  exporters write it, becomes one ``com.microsoft`` Gelu: TF's gelu, TFLite's GELU builtin (TFLite has no
  builtin for Erf, so the written-out form needs the Flex delegate).
- ``fuse_group_norm``: PyTorch's GroupNorm as exported before opset 21, ``Reshape(x, [N, G, -1])`` ->
  InstanceNormalization -> ``Reshape`` back to x's shape, becomes one ``com.microsoft`` GroupNorm (channels
  first, its per-group scale and bias repeated per channel). The Reshapes cross the channel axis, so they
  needed x in ONNX order: two transposes around every GroupNorm of a channels-last CNN. The fused node
  normalises in whatever layout x is in.

Contract: the model is valid; initializers still in external data are not read, so their nodes are left as
they are. Only main-graph nodes are fused; a weight
also read elsewhere is left alone and the fused one is added beside it. Parameters no node reads any more are
removed. Each pass changes ``model`` in place and returns whether it changed anything.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from bridge.onnx_graphs import walk_graphs
from bridge_converters.onnx_tf.passes.shapes import declared_dims

__all__ = ["fold_batch_norm", "merge_pad", "fuse_gelu", "fuse_group_norm", "fuse"]


def fuse(model: Any, shapes: Mapping[str, Any] | None = None) -> bool:
    """All fusions, in order; whether any changed the model. ``shapes`` (value name -> ONNX-order dims, from
    ``passes.shapes``) adds to the shapes the model declares."""
    changed = fold_batch_norm(model)
    changed = merge_pad(model) or changed
    changed = fuse_gelu(model) or changed
    changed = fuse_group_norm(model, shapes) or changed
    return changed


def _consumers(graph: Any) -> dict[str, list[Any]]:
    consumers: dict[str, list[Any]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    return consumers


def _readers(model: Any) -> dict[str, int]:
    """How many times each tensor is read, anywhere (subgraphs and graph outputs included)."""
    count: dict[str, int] = defaultdict(int)
    for graph in walk_graphs(model.graph):
        for node in graph.node:
            for name in node.input:
                count[name] += 1
        for out in graph.output:
            count[out.name] += 1
    return count


def _constants(model: Any) -> dict[str, Any]:
    """Main-graph initializers and Constant-node values, as numpy arrays."""
    from onnx import numpy_helper

    values = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer if not _external(init)}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and node.attribute:
            attr = node.attribute[0]
            if attr.name == "value":
                values[node.output[0]] = numpy_helper.to_array(attr.t)
    return values


def _external(tensor: Any) -> bool:
    """Weights left in external data (streamed later, ``weights.py``) are not read here; their nodes stay."""
    import onnx

    return tensor.data_location == onnx.TensorProto.EXTERNAL


def _opset(model: Any) -> int:
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _attr(node: Any, name: str, default: Any) -> Any:
    import onnx

    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default


def _set_ints(node: Any, name: str, values: list[int]) -> None:
    import onnx

    kept = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(kept + [onnx.helper.make_attribute(name, values)])


def _unique(model: Any, base: str) -> str:
    taken = {i.name for i in model.graph.initializer} | {o for n in model.graph.node for o in n.output}
    name, k = base, 0
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name


def _prune_initializers(model: Any) -> None:
    """Drop initializers nothing reads (and their graph-input entries, which old IR versions list)."""
    readers = _readers(model)
    unused = {init.name for init in model.graph.initializer if not readers.get(init.name)}
    if not unused:
        return
    keep = [init for init in model.graph.initializer if init.name not in unused]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    inputs = [v for v in model.graph.input if v.name not in unused]
    del model.graph.input[:]
    model.graph.input.extend(inputs)


def _replace_chains(model: Any, fused: list[tuple[list[Any], Any]]) -> bool:
    """Put each fused ``com.microsoft`` node where its chain's last node was and drop the chains."""
    import onnx

    for chain, node in fused:
        model.graph.node.insert(list(model.graph.node).index(chain[-1]), node)
    if fused and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    return _drop(model, [node for chain, _ in fused for node in chain])


def _drop(model: Any, nodes: list[Any]) -> bool:
    """Remove fused-away ``nodes`` and the parameters nobody reads any more; whether anything changed."""
    for node in nodes:
        model.graph.node.remove(node)
    if nodes:
        _prune_initializers(model)
    return bool(nodes)


def fold_batch_norm(model: Any) -> bool:
    import numpy as np
    from onnx import numpy_helper

    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    readers = _readers(model)
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer if not _external(init)}
    drop = []
    for bn in graph.node:
        if bn.op_type != "BatchNormalization" or bn.domain not in ("", "ai.onnx") or len(bn.input) < 5:
            continue
        if _attr(bn, "training_mode", 0) or not _attr(bn, "spatial", 1) or any(o for o in bn.output[1:]):
            continue
        conv = producers.get(bn.input[0])
        if conv is None or conv.op_type not in ("Conv", "ConvTranspose") or conv.domain not in ("", "ai.onnx"):
            continue
        if readers[conv.output[0]] != 1 or conv.input[1] not in values or any(n not in values for n in bn.input[1:5]):
            continue
        bias_name = conv.input[2] if len(conv.input) > 2 and conv.input[2] else None
        if bias_name is not None and bias_name not in values:
            continue
        w = values[conv.input[1]]
        if w.dtype.kind != "f" or w.ndim < 3:
            continue
        scale, shift, mean, var = (values[n].astype(np.float64) for n in bn.input[1:5])
        s = scale / np.sqrt(var + float(_attr(bn, "epsilon", 1e-5)))
        b = values[bias_name].astype(np.float64) if bias_name else np.zeros_like(s)
        if conv.op_type == "Conv":
            folded = w.astype(np.float64) * s.reshape([-1] + [1] * (w.ndim - 1))
        else:  # (C, M/g, k...): output channel g * M/g + m
            group = int(_attr(conv, "group", 1))
            grouped = w.astype(np.float64).reshape(group, w.shape[0] // group, *w.shape[1:])
            folded = (grouped * s.reshape(group, 1, w.shape[1], *([1] * (w.ndim - 2)))).reshape(w.shape)
        new_w = _unique(model, f"{conv.input[1]}_bn_folded")
        new_b = _unique(model, f"{bn.output[0]}_bias")
        graph.initializer.extend([numpy_helper.from_array(folded.astype(w.dtype), new_w),
                                  numpy_helper.from_array(((b - mean) * s + shift).astype(w.dtype), new_b)])
        data = conv.input[0]
        del conv.input[:]
        conv.input.extend([data, new_w, new_b])
        conv.output[0] = bn.output[0]
        drop.append(bn)
    return _drop(model, drop)


def merge_pad(model: Any) -> bool:
    import numpy as np

    graph = model.graph
    readers = _readers(model)
    consts = _constants(model)
    consumers = {name: node for node in graph.node for name in node.input}
    opset = _opset(model)
    drop = []
    for pad in graph.node:
        if pad.op_type != "Pad" or pad.domain not in ("", "ai.onnx") or _attr(pad, "mode", "constant") != "constant":
            continue
        conv = consumers.get(pad.output[0])
        if conv is None or conv.op_type != "Conv" or conv.input[0] != pad.output[0] or readers[pad.output[0]] != 1:
            continue
        if _attr(conv, "auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET"):
            continue
        if opset < 11:
            pads, value = _attr(pad, "pads", _attr(pad, "paddings", None)), _attr(pad, "value", 0.0)
        else:
            pads = consts.get(pad.input[1]) if len(pad.input) > 1 else None
            value = consts.get(pad.input[2], None) if len(pad.input) > 2 and pad.input[2] else 0.0
            if len(pad.input) > 3 and pad.input[3]:
                continue  # opset 18 axes: rare, left to the Pad handler
        if pads is None or value is None or np.any(np.asarray(value) != 0):
            continue
        pads = [int(p) for p in np.asarray(pads).reshape(-1)]
        rank = len(pads) // 2
        begin, end = pads[:rank], pads[rank:]
        if rank < 3 or any(p < 0 for p in pads) or begin[:2] != [0, 0] or end[:2] != [0, 0]:
            continue
        n = rank - 2
        own = list(_attr(conv, "pads", [0] * (2 * n)))
        _set_ints(conv, "pads", [own[i] + begin[2 + i] for i in range(n)] + [own[n + i] + end[2 + i] for i in range(n)])
        conv.input[0] = pad.input[0]
        drop.append(pad)
    return _drop(model, drop)


def _scalar(consts: dict[str, Any], name: str) -> float | None:
    import numpy as np

    value = consts.get(name)
    return float(np.asarray(value).reshape(-1)[0]) if value is not None and np.size(value) == 1 else None


def _mul_by(node: Any, consts: dict[str, Any], value: float) -> str | None:
    """For a Mul of a tensor by the constant ``value`` (either order), the tensor's name."""
    if node is None or node.op_type != "Mul" or node.domain not in ("", "ai.onnx") or len(node.input) != 2:
        return None
    for i in (0, 1):
        c = _scalar(consts, node.input[1 - i])
        if c is not None and abs(c - value) < 1e-4 * abs(value):
            return node.input[i]
    return None


def fuse_gelu(model: Any) -> bool:
    import math

    import onnx

    graph = model.graph
    consts = _constants(model)
    readers = _readers(model)
    producers = {out: node for node in graph.node for out in node.output}
    consumers = _consumers(graph)

    def only(name: str, op: str) -> Any:
        """The one node reading ``name``, when it is the only reader anywhere and of type ``op``."""
        nodes = consumers.get(name, [])
        ok = readers[name] == 1 and len(nodes) == 1 and nodes[0].op_type == op and nodes[0].domain in ("", "ai.onnx")
        return nodes[0] if ok else None

    fused: list[tuple[list[Any], Any]] = []
    for erf in graph.node:
        if erf.op_type != "Erf" or erf.domain not in ("", "ai.onnx"):
            continue
        pre = producers.get(erf.input[0])
        if pre is None or readers[pre.output[0]] != 1:
            continue
        x = _mul_by(pre, consts, 1 / math.sqrt(2))
        if x is None and pre.op_type == "Div" and abs((_scalar(consts, pre.input[1]) or 0) - math.sqrt(2)) < 1e-4:
            x = pre.input[0]
        add = only(erf.output[0], "Add")
        if x is None or add is None or abs((_scalar(consts, next(i for i in add.input if i != erf.output[0])) or 0) - 1) > 1e-6:
            continue
        m1 = only(add.output[0], "Mul")
        if m1 is None:
            continue
        other = m1.input[1] if m1.input[0] == add.output[0] else m1.input[0]
        half = _mul_by(producers.get(other), consts, 0.5)
        if half == x and readers[other] == 1:  # (x * 0.5) * (1 + erf)
            chain = [pre, erf, add, producers[other], m1]
        else:
            m2 = only(m1.output[0], "Mul")
            if m2 is None:
                continue
            if other == x and _mul_by(m2, consts, 0.5) == m1.output[0]:  # ((1 + erf) * x) * 0.5
                chain = [pre, erf, add, m1, m2]
            elif _scalar(consts, other) == 0.5 and x in m2.input:  # ((1 + erf) * 0.5) * x
                chain = [pre, erf, add, m1, m2]
            else:
                continue
        fused.append((chain, onnx.helper.make_node("Gelu", [x], [chain[-1].output[0]], domain="com.microsoft",
                                                   name=(erf.name or "gelu") + "/fused")))
    return _replace_chains(model, fused)


def _declared_shapes(model: Any, shapes: Mapping[str, Any] | None) -> dict[str, list[int | None]]:
    """Main-graph value name -> ONNX-order dims (None where unknown), from the model and ``shapes``."""
    known: dict[str, list[int | None]] = {}
    for value in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        dims = declared_dims(value)
        if dims is not None:
            known[value.name] = [d if isinstance(d, int) else None for d in dims]
    known.update({k: list(v) for k, v in (shapes or {}).items() if v is not None})
    return known


def _group_norm_parts(node: Any, producers: dict[str, Any], consts: dict[str, Any], readers: dict[str, int],
                      known: dict[str, list[int | None]]) -> tuple[Any, int] | None:
    """For an InstanceNormalization reading ``Reshape(x, [N or 0, G, -1])``: that Reshape and G, when x's
    rank (>= 3) and channel count are known and G divides it."""
    import numpy as np

    split = producers.get(node.input[0])
    if split is None or split.op_type != "Reshape" or readers[split.output[0]] != 1 or _attr(split, "allowzero", 0):
        return None
    dims, target = known.get(split.input[0]), consts.get(split.input[1])
    if dims is None or len(dims) < 3 or not dims[1] or target is None or np.size(target) != 3:
        return None
    n, groups, rest = (int(v) for v in np.asarray(target).reshape(-1))
    per_group = None if None in dims[2:] else dims[1] // groups * int(np.prod(dims[2:]))
    if n not in (0, dims[0] or 0) or groups <= 0 or dims[1] % groups or rest not in (-1, per_group):
        return None
    return split, groups


def _restores(back: Any, x: str, dims: list[int | None], producers: dict[str, Any], consts: dict[str, Any]) -> bool:
    """Whether Reshape ``back`` gives its input x's shape: a constant equal to it, or Shape(x)."""
    import numpy as np

    if back.op_type != "Reshape" or back.domain not in ("", "ai.onnx") or _attr(back, "allowzero", 0):
        return False
    shape = producers.get(back.input[1])
    if shape is not None and shape.op_type == "Shape" and shape.input[0] == x and not shape.attribute:
        return True
    target = consts.get(back.input[1])
    if target is None or None in dims:
        return False
    target = [int(v) for v in np.asarray(target).reshape(-1)]
    return [dims[0] if i == 0 and v == 0 else v for i, v in enumerate(target)] == dims


def fuse_group_norm(model: Any, shapes: Mapping[str, Any] | None = None) -> bool:
    import numpy as np
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    consts, readers, known = _constants(model), _readers(model), _declared_shapes(model, shapes)
    producers = {out: node for node in graph.node for out in node.output}
    consumers = _consumers(graph)
    fused: list[tuple[list[Any], Any]] = []
    for norm in graph.node:
        if norm.op_type != "InstanceNormalization" or norm.domain not in ("", "ai.onnx") or len(norm.input) < 3:
            continue
        parts = _group_norm_parts(norm, producers, consts, readers, known)
        scale, bias = consts.get(norm.input[1]), consts.get(norm.input[2])
        backs = consumers.get(norm.output[0], [])
        if parts is None or scale is None or bias is None or readers[norm.output[0]] != 1 or len(backs) != 1:
            continue
        (split, groups), back = parts, backs[0]
        x, dims = split.input[0], known[split.input[0]]
        if np.size(scale) != groups or np.size(bias) != groups or not _restores(back, x, dims, producers, consts):
            continue
        per = dims[1] // groups
        names = [_unique(model, f"{norm.output[0]}_gamma"), _unique(model, f"{norm.output[0]}_beta")]
        for name, value in zip(names, (scale, bias)):
            graph.initializer.append(numpy_helper.from_array(np.repeat(np.asarray(value).reshape(-1), per), name))
        shape = producers.get(back.input[1])
        dead = [shape] if shape is not None and shape.op_type == "Shape" and readers[shape.output[0]] == 1 else []
        fused.append(([*dead, split, norm, back], onnx.helper.make_node(
            "GroupNorm", [x, *names], [back.output[0]], domain="com.microsoft",
            name=(norm.name or "group_norm") + "/fused",
            groups=groups, epsilon=float(_attr(norm, "epsilon", 1e-5)), channels_last=0, activation=0)))
    return _replace_chains(model, fused)
