"""Pass: a padded MaxPool as edge padding (slices and a concat) followed by an unpadded MaxPool.

Used for integer TFLite (``ConvertOptions.extra["passes"]``). The MaxPool handler pads with -inf, which is
exact in float, but TFLite's int8 quantizer gives the padded tensor one scale shared with its pad constant,
so -inf (or float32's lowest) blows the scale up to ~1e36 and every value rounds to the zero point. Repeating
the border element instead gives the same maxima: with dilation 1 and pads smaller than the kernel (which
ONNX requires) every window that reaches into the padding also holds the border element it repeats.

Contract. Pre: a checked ``onnx.ModelProto``. Post, in place: every MaxPool with explicit non-zero pads,
``auto_pad`` NOTSET, all dilations 1 and no Indices output reads its input through ``Slice``/``Concat``
edge padding and has zero pads; other MaxPools are untouched. Returns whether the graph changed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["edge_pad_max_pools", "padded_max_pools"]


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def padded_max_pools(model: Any) -> list[int]:
    """Positions in ``model.graph.node`` of the MaxPools the pass rewrites (protobuf hands out a new wrapper
    per access, so nodes are told apart by position, not identity)."""
    found = []
    for index, node in enumerate(model.graph.node):
        if node.op_type != "MaxPool" or node.domain not in ("", "ai.onnx"):
            continue
        attrs = _attrs(node)
        pads = list(attrs.get("pads", []))
        auto = attrs.get("auto_pad", b"NOTSET")
        if (auto in (b"NOTSET", "NOTSET") and any(pads) and all(d == 1 for d in attrs.get("dilations", [1]))
                and (len(node.output) < 2 or not node.output[1])):
            found.append(index)
    return found


def edge_pad_max_pools(model: Any) -> bool:
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    targets = set(padded_max_pools(model))
    if not targets:
        return False
    graph = model.graph
    made: dict[int, str] = {}

    def const(value: int) -> str:
        if value not in made:
            name = f"__edge_pad_index_{value}".replace("-", "m")
            graph.initializer.append(numpy_helper.from_array(np.array([value], np.int64), name))
            made[value] = name
        return made[value]

    nodes = []
    for index, node in enumerate(graph.node):
        if index not in targets:
            nodes.append(node)
            continue
        attrs = _attrs(node)
        pads = list(attrs["pads"])
        rank = len(pads) // 2
        current = node.input[0]
        for i in range(rank):
            begin, end, axis = pads[i], pads[i + rank], i + 2
            if not begin and not end:
                continue
            parts = []
            for side, count in (("first", begin), ("last", end)):
                if not count:
                    continue
                edge = f"{node.output[0]}__edge_{axis}_{side}"
                start, stop = (const(0), const(1)) if side == "first" else (const(-1), const(np.iinfo(np.int64).max))
                nodes.append(helper.make_node("Slice", [current, start, stop, const(axis)], [edge],
                                              name=f"{node.name}__edge_{axis}_{side}"))
                parts.append((side, [edge] * count))
            padded = f"{node.output[0]}__edge_{axis}"
            ordered = [n for side, names in parts if side == "first" for n in names] + [current] + \
                      [n for side, names in parts if side == "last" for n in names]
            nodes.append(helper.make_node("Concat", ordered, [padded], axis=axis, name=f"{node.name}__edge_{axis}"))
            current = padded
        node.input[0] = current
        kept = [a for a in node.attribute if a.name != "pads"]
        del node.attribute[:]
        node.attribute.extend(kept + [onnx.helper.make_attribute("pads", [0] * (2 * rank))])
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    return True
