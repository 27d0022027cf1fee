"""Pass: an already-quantized ONNX model's Q/DQ pairs as TF fake quantisation, for integer TFLite.

Used when ``"fake_quant"`` is in ``ConvertOptions.extra["passes"]`` (the tf -> tflite edge asks for it when the ONNX
model is quantized). The TFLite converter turns ``FakeQuantWithMinMaxVars`` ops into integer kernels with
exactly their ranges, so the model's own scales and zero points survive; without the pass, Q/DQ convert
literally (exact against ONNX Runtime, but float kernels).

Contract. Pre: a checked ``onnx.ModelProto``. Post, in place:
1. ``QLinearConv`` and ``QLinearMatMul`` with constant scales are written as DQ -> Conv/MatMul -> Q (the int32
   bias of QLinearConv dequantized with x_scale * w_scale).
2. ``MaxPool``, ``Reshape``, ``Flatten``, ``Transpose``, ``Squeeze``, ``Unsqueeze``, ``Identity`` on a quantized
   tensor run on its dequantized value between a DQ and a Q with the same parameters (they commute).
3. A DQ of a constant integer weight reads a float initializer holding its dequantized value through a new
   Q (so the weight gets a fake-quant op and keeps its scale; it becomes a TF variable, which is not folded);
   per-axis weights only where a Conv reads them (see ``_weights_through_quantize``).
4. Every 8-bit Q whose scale and zero point are constants and whose output feeds only DQs with equal
   constants (and is no graph output) is marked ``pair`` (its handler emits fake quantisation in float) and
   those DQs ``through`` (they pass the float on); weight pairs are ``weight`` (symmetric, narrow range).
Returns whether the graph changed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MARK", "fake_quant_pairs", "mark_of"]

MARK = "bridge.fake_quant"
_TRANSPARENT = {"MaxPool", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity"}
_EIGHT_BIT = (2, 3)  # TensorProto.UINT8, INT8


def mark_of(node: Any) -> str:
    return next((p.value for p in node.metadata_props if p.key == MARK), "")


def _set_mark(node: Any, value: str) -> None:
    import onnx

    del node.metadata_props[:]  # only ours: marked nodes are ones this pass made or rewired
    node.metadata_props.append(onnx.StringStringEntryProto(key=MARK, value=value))


class _Graph:
    def __init__(self, model: Any) -> None:
        from onnx import numpy_helper

        self.model, self.graph = model, model.graph
        self.inits = {t.name: numpy_helper.to_array(t) for t in self.graph.initializer}
        self._count = 0

    def const(self, name: str) -> Any:
        return self.inits.get(name) if name else None

    def fresh(self, base: str) -> str:
        self._count += 1
        return f"{base}__fq{self._count}"

    def replace_nodes(self, nodes: list[Any], changed: bool) -> bool:
        """The graph's nodes become ``nodes`` when a rewrite ``changed`` anything; whether it did."""
        if changed:
            del self.graph.node[:]
            self.graph.node.extend(nodes)
        return changed

    def add_init(self, base: str, value: Any) -> str:
        from onnx import numpy_helper

        name = self.fresh(base)
        self.graph.initializer.append(numpy_helper.from_array(value, name))
        self.inits[name] = value
        return name


def _node(op: str, inputs: list[str], outputs: list[str], name: str, **attrs: Any) -> Any:
    import onnx

    return onnx.helper.make_node(op, inputs, outputs, name=name, **attrs)


def _expand_qlinear(g: _Graph) -> bool:
    """QLinearConv / QLinearMatMul -> DQ, float op, Q."""
    import numpy as np

    nodes, changed = [], False
    for node in g.graph.node:
        ins = list(node.input) + [""] * (9 - len(node.input))
        if node.domain in ("", "ai.onnx") and node.op_type == "QLinearConv" and g.const(ins[1]) is not None \
                and g.const(ins[4]) is not None:
            x, xs, xz, w, ws, wz, ys, yz, bias = ins
            xf, wf, yf = g.fresh(x), g.fresh(w), g.fresh(node.output[0])
            w_axis = {"axis": 0} if np.ndim(g.const(ws)) == 1 and np.size(g.const(ws)) > 1 else {}
            new = [_node("DequantizeLinear", [x, xs, xz] if xz else [x, xs], [xf], g.fresh(node.name + "_dq_x")),
                   _node("DequantizeLinear", [w, ws, wz] if wz else [w, ws], [wf], g.fresh(node.name + "_dq_w"), **w_axis)]
            conv_in = [xf, wf]
            if bias:
                bs = g.add_init(bias + "_scale", (g.const(xs) * g.const(ws)).astype(np.float32).reshape(-1))
                bf = g.fresh(bias)
                new.append(_node("DequantizeLinear", [bias, bs], [bf], g.fresh(node.name + "_dq_b"),
                                 **({"axis": 0} if np.size(g.const(bs)) > 1 else {})))
                conv_in.append(bf)
            attrs = {a.name: a for a in node.attribute}
            conv = _node("Conv", conv_in, [yf], node.name or g.fresh("conv"))
            conv.attribute.extend(attrs.values())
            new += [conv, _node("QuantizeLinear", [yf, ys, yz] if yz else [yf, ys], [node.output[0]], g.fresh(node.name + "_q_y"))]
            nodes += new
            changed = True
        elif node.domain in ("", "ai.onnx") and node.op_type == "QLinearMatMul":
            a, as_, az, b, bs, bz, ys, yz = ins[:8]
            af, bf, yf = g.fresh(a), g.fresh(b), g.fresh(node.output[0])
            b_axis = {"axis": -1} if np.size(g.const(bs)) > 1 else {}
            nodes += [_node("DequantizeLinear", [a, as_, az], [af], g.fresh(node.name + "_dq_a")),
                      _node("DequantizeLinear", [b, bs, bz], [bf], g.fresh(node.name + "_dq_b"), **b_axis),
                      _node("MatMul", [af, bf], [yf], node.name or g.fresh("matmul")),
                      _node("QuantizeLinear", [yf, ys, yz], [node.output[0]], g.fresh(node.name + "_q_y"))]
            changed = True
        else:
            nodes.append(node)
    return g.replace_nodes(nodes, changed)


def _float_through_transparent(g: _Graph) -> bool:
    """A transparent op on a Q output runs on the dequantized value, re-quantized with the same parameters."""
    params: dict[str, list[str]] = {}
    nodes, changed = [], False
    for node in g.graph.node:
        if node.op_type == "QuantizeLinear" and node.domain in ("", "ai.onnx"):
            params[node.output[0]] = list(node.input[1:3])
        if node.op_type in _TRANSPARENT and node.domain in ("", "ai.onnx") and node.input[0] in params:
            qp = params[node.input[0]]
            xf, yf = g.fresh(node.input[0]), g.fresh(node.output[0])
            out = node.output[0]
            nodes.append(_node("DequantizeLinear", [node.input[0], *qp], [xf], g.fresh(node.name + "_dq")))
            node.input[0] = xf
            node.output[0] = yf
            nodes.append(node)
            nodes.append(_node("QuantizeLinear", [yf, *qp], [out], g.fresh(node.name + "_q")))
            params[out] = qp
            changed = True
        else:
            nodes.append(node)
    return g.replace_nodes(nodes, changed)


def _weights_through_quantize(g: _Graph) -> bool:
    """DQ(integer weight) -> DQ(Q(float weight)), so the weight gets a fake-quant op of its own.

    Per-axis weights of anything but Conv are left to fold into float constants: TFLite transposes a
    fully-connected weight, which it cannot do to a per-axis quantized one, and quantizes it itself with the
    same symmetric per-channel scales (max |w| / 127 per channel) that ONNX Runtime's quantizer writes."""
    import numpy as np

    readers: dict[str, set[str]] = {}
    for node in g.graph.node:
        for name in node.input:
            readers.setdefault(name, set()).add(node.op_type)
    nodes, changed = [], False
    for node in g.graph.node:
        w = g.const(node.input[0]) if node.op_type == "DequantizeLinear" else None
        if w is None or w.dtype not in (np.int8, np.uint8):
            nodes.append(node)
            continue
        scale = g.const(node.input[1])
        zero = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros((), w.dtype)
        if scale is None or zero is None or (np.size(scale) > 1 and readers.get(node.output[0], set()) != {"Conv"}):
            nodes.append(node)
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        shape = [1] * w.ndim
        if np.size(scale) > 1:
            shape[axis % w.ndim] = -1
        value = ((w.astype(np.float32) - zero.astype(np.float32).reshape(shape)) * scale.astype(np.float32).reshape(shape))
        source = g.add_init(node.input[0] + "_float", value.astype(np.float32))
        quantized = g.fresh(node.input[0])
        nodes.append(_node("QuantizeLinear", [source, *node.input[1:]], [quantized], g.fresh(node.name + "_q_w"),
                           **({"axis": axis} if np.size(scale) > 1 else {})))
        node.input[0] = quantized
        nodes.append(node)
        changed = True
    return g.replace_nodes(nodes, changed)


def _mark_pairs(g: _Graph) -> bool:
    import numpy as np

    consumers: dict[str, list[Any]] = {}
    for node in g.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in g.graph.output}
    weights = {name for name, v in g.inits.items() if v.dtype.kind == "f"}
    changed = False
    for node in g.graph.node:
        if node.op_type != "QuantizeLinear" or node.domain not in ("", "ai.onnx") or node.output[0] in outputs:
            continue
        scale = g.const(node.input[1])
        zero = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros((), np.uint8)
        if scale is None or zero is None or zero.dtype not in (np.int8, np.uint8):
            continue
        after = consumers.get(node.output[0], [])

        def same(dq: Any) -> bool:
            if dq.op_type != "DequantizeLinear" or dq.input[0] != node.output[0]:
                return False
            s = g.const(dq.input[1])
            z = g.const(dq.input[2]) if len(dq.input) > 2 and dq.input[2] else np.zeros((), np.uint8)
            axes = [next((a.i for a in n.attribute if a.name == "axis"), 1) for n in (node, dq)]
            return (s is not None and z is not None and np.array_equal(s, scale) and np.array_equal(z, zero)
                    and z.dtype == zero.dtype and (np.size(scale) == 1 or axes[0] == axes[1]))

        if not after or not all(same(dq) for dq in after):
            continue
        is_weight = node.input[0] in weights and zero.dtype == np.int8 and not np.any(zero)
        _set_mark(node, "weight" if is_weight else "pair")
        for dq in after:
            _set_mark(dq, "through")
        changed = True
    return changed


def fake_quant_pairs(model: Any) -> bool:
    g = _Graph(model)
    changed = _expand_qlinear(g)
    changed |= _float_through_transparent(g)
    changed |= _weights_through_quantize(g)
    changed |= _mark_pairs(g)
    return changed
