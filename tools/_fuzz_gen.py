"""Random small ONNX graphs and damaged ONNX files for ``tools.fuzz``; every case is a pure function of
``numpy.random.Generator`` draws, so ``(seed, index)`` reproduces it exactly.

Graphs are built node by node from common ops (``tools._fuzz_ops``) with random attributes, shapes and
dtypes; ONNX strict type and shape inference after each node tells the builder the new value's type and
shape. A valid graph drops a node inference rejects; an "invalid" graph keeps it, and some nodes get
corrupted on purpose (wrong input, out-of-range attribute, missing or extra input, another op type).
"""

from __future__ import annotations

from typing import Any

from tools._fuzz_ops import _ALL_OP_TYPES, _FLOAT, _INPUT_TYPES, _OPSETS, OPS, _Graph, _Skip

__all__ = ["random_model", "mutate_bytes", "mutate_model", "OPS"]

def _corrupt_node(g: _Graph, node: Any) -> None:
    """Make one node wrong on purpose (the model may stay valid by chance)."""
    import onnx

    r = g.rng.random()
    values = list(g.types)
    if r < 0.3 and node.input and values:
        node.input[int(g.rng.integers(0, len(node.input)))] = str(g.rng.choice(values))
    elif r < 0.5 and node.attribute:
        attr = node.attribute[int(g.rng.integers(0, len(node.attribute)))]
        if attr.type == onnx.AttributeProto.INT:
            attr.i = int(g.rng.integers(-6, 12))
        elif attr.type == onnx.AttributeProto.INTS and attr.ints:
            attr.ints[int(g.rng.integers(0, len(attr.ints)))] = int(g.rng.integers(-3, 8))
        elif attr.type == onnx.AttributeProto.FLOAT:
            attr.f = float(g.rng.choice([float("nan"), float("inf"), -1.0, 0.0]))
    elif r < 0.65 and node.input:
        del node.input[-1]
    elif r < 0.8 and values:
        node.input.append(str(g.rng.choice(values)))
    else:
        node.op_type = str(g.rng.choice(_ALL_OP_TYPES))


def random_model(rng: Any, invalid: bool | None = None) -> Any:
    """A random small model; with ``invalid`` some nodes are kept although inference rejects them."""
    from onnx import helper

    invalid = bool(rng.random() < 0.3) if invalid is None else invalid
    g = _Graph(rng, int(rng.choice(_OPSETS)), invalid)
    for _ in range(int(rng.integers(1, 3))):
        elem = [t for t, _ in _INPUT_TYPES][int(rng.choice(len(_INPUT_TYPES), p=[p for _, p in _INPUT_TYPES]))]
        rank = int(rng.choice([0, 1, 2, 3, 4], p=[0.05, 0.15, 0.3, 0.2, 0.3]))
        shape: list[int | None] = [int(d) for d in rng.integers(1, 6, size=rank)]
        if rank and rng.random() < 0.15:
            shape[0] = None
        g.add_input(elem, tuple(shape))
    names = list(OPS)
    for _ in range(int(rng.integers(1, 9))):
        before = len(g.nodes)
        try:
            OPS[names[int(rng.integers(0, len(names)))]](g)
        except (_Skip, ValueError, IndexError):  # the op does not fit the values at hand
            del g.nodes[before:]
            continue
        if invalid and rng.random() < 0.25:
            _corrupt_node(g, g.nodes[-1])
        if not g.infer() and not invalid:
            del g.nodes[before:]
            g.poisoned = False
            g.infer()
        if g.poisoned:
            break
    if not g.nodes:
        g.node("Identity", [g.pick()])
        g.infer()
    if g.poisoned and g.nodes[-1].op_type != "Slice" and rng.random() < 0.5:
        # Feed the negative dim to a Slice: the combination that aborts ONNX's own inference.
        import numpy as np

        last = g.nodes[-1].output[0]
        g.node("Slice", [last, g.const(np.array([0], np.int64)), g.const(np.array([5], np.int64))])
    last = list(g.nodes[-1].output)
    extra = [o for n in g.nodes[:-1] for o in n.output if rng.random() < 0.15]
    outputs = []
    for name in dict.fromkeys(last + extra):
        elem, shape = g.types.get(name, (_FLOAT, None))
        dims = None if shape is None else [d if d is not None else "N" for d in shape]
        outputs.append(helper.make_tensor_value_info(name, elem, dims))
    return g.model(outputs)


# -- damage ------------------------------------------------------------------------------------------
def mutate_bytes(rng: Any, data: bytes, other: bytes) -> bytes:
    """Truncate, flip bits, overwrite, insert, delete or splice serialized bytes."""
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        n = len(buf)
        if n == 0:
            break
        kind = int(rng.integers(0, 7))
        pos = int(rng.integers(0, n))
        if kind == 0:
            del buf[pos:]
        elif kind == 1:
            for _ in range(int(rng.integers(1, 9))):
                i = int(rng.integers(0, n))
                buf[i] ^= 1 << int(rng.integers(0, 8))
        elif kind == 2:
            length = int(rng.integers(1, 9))
            buf[pos:pos + length] = bytes(rng.integers(0, 256, size=length).astype("uint8"))
        elif kind == 3:
            buf[pos:pos] = bytes(rng.integers(0, 256, size=int(rng.integers(1, 9))).astype("uint8"))
        elif kind == 4:
            del buf[pos:pos + int(rng.integers(1, 17))]
        elif kind == 5:
            cut = int(rng.integers(0, len(other) + 1)) if other else 0
            buf = buf[:pos] + bytearray(other[cut:])
        else:  # interesting integers where varints live
            buf[pos] = int(rng.choice([0x00, 0x01, 0x7F, 0x80, 0xFF]))
    return bytes(buf)


def mutate_model(rng: Any, model: Any) -> Any:
    """A semantic breakage: opset, ordering, names, types, outputs, emptiness."""
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    graph = m.graph
    kind = int(rng.integers(0, 12))
    if kind == 0:
        m.opset_import[0].version = int(rng.choice([0, -1, 2, 5, 29, 999, 2**31 - 1]))
    elif kind == 1:
        del m.opset_import[:]
    elif kind == 2 and len(graph.node) >= 2:  # out of topological order, or a real cycle
        i, j = sorted(int(v) for v in rng.choice(len(graph.node), size=2, replace=False))
        a, b = onnx.NodeProto(), onnx.NodeProto()
        a.CopyFrom(graph.node[i]), b.CopyFrom(graph.node[j])
        graph.node[i].CopyFrom(b), graph.node[j].CopyFrom(a)
        if rng.random() < 0.5 and graph.node[i].input and graph.node[j].output:
            graph.node[i].input[0] = graph.node[j].output[0]
    elif kind == 3 and graph.node and graph.node[-1].input:  # dangling input
        graph.node[int(rng.integers(0, len(graph.node)))].input[0] = "nothing_makes_this"
    elif kind == 4 and graph.input:
        graph.input[0].type.tensor_type.elem_type = int(rng.choice([0, 7, 9, 16, 17, 23, 99]))
    elif kind == 5 and graph.output:
        graph.output.append(graph.output[0])
    elif kind == 6:
        graph.output.add().CopyFrom(onnx.helper.make_tensor_value_info("produced_by_none", 1, None))
    elif kind == 7:
        del graph.node[:]
        if rng.random() < 0.5:
            del graph.output[:]
    elif kind == 8 and graph.node:
        del graph.node[int(rng.integers(0, len(graph.node)))]
    elif kind == 9 and graph.output:
        graph.output[0].type.tensor_type.elem_type = int(rng.choice([1, 7, 9, 11]))
    elif kind == 10 and graph.node:
        node = graph.node[int(rng.integers(0, len(graph.node)))]
        node.output[0] = graph.node[0].output[0] if rng.random() < 0.5 else (node.input[0] if node.input else "x")
    else:
        m.ir_version = int(rng.choice([0, 1, 2, 3, 11, 12, 99]))
    return m
