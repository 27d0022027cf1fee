"""Fusions on the ONNX graph before it is converted, each exact up to float rounding.

- ``fold_batch_norm``: Conv or ConvTranspose followed by an inference BatchNormalization with constant
  parameters (and nothing else reading the convolution's output) becomes one convolution with rescaled
  weights and a bias. TensorFlow's optimiser cannot fold the BatchNormalization's multiply and add into
  the kernel; TFLite's converter can, but the SavedModel would keep them.
- ``merge_pad``: a constant-zero Pad of the spatial axes only, read by nothing but a Conv, becomes that Conv's
  own padding (TFLite then sees one CONV_2D, padded SAME where that is exact).

Contract: the model is valid and its initializers are inline. Only main-graph nodes are fused; a weight
also read elsewhere is left alone and the fused one is added beside it. Parameters no node reads any more are
removed. Each pass changes ``model`` in place and returns whether it changed anything.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bridge.onnx_graphs import walk_graphs

__all__ = ["fold_batch_norm", "merge_pad", "fuse"]


def fuse(model: Any) -> bool:
    """All fusions, in order; whether any changed the model."""
    changed = fold_batch_norm(model)
    changed = merge_pad(model) or changed
    return changed


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

    values = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and node.attribute:
            attr = node.attribute[0]
            if attr.name == "value":
                values[node.output[0]] = numpy_helper.to_array(attr.t)
    return values


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


def fold_batch_norm(model: Any) -> bool:
    import numpy as np
    from onnx import numpy_helper

    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    readers = _readers(model)
    inits = {init.name: init for init in graph.initializer}
    values = {name: numpy_helper.to_array(init) for name, init in inits.items()}
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
    for node in drop:
        graph.node.remove(node)
    if drop:
        _prune_initializers(model)
    return bool(drop)


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
    for node in drop:
        graph.node.remove(node)
    if drop:
        _prune_initializers(model)
    return bool(drop)
