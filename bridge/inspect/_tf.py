"""TensorFlow SavedModel: the ``serving_default`` signature, the ops it runs, its variables."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

from bridge._frameworks import import_tensorflow
from bridge.errors import UsageError, first_line
from bridge.inspect import ModelSummary, TensorInfo, dims_details
from bridge.inspect.figures import PERMUTING_EINSUM, PERMUTING_PACK

__all__ = ["permutes", "restacked", "summarize_savedmodel", "function_op_histogram", "savedmodel_op_histogram"]

# A signature's graph is plumbing around one call: placeholders for inputs and captured variables, a
# (Stateful)PartitionedCall into the real function, NoOp/Identity for control deps and outputs. Counting
# those would hide the model, so calls are expanded into the functions they call and the plumbing is dropped.
_CALL_OPS = {"PartitionedCall", "StatefulPartitionedCall"}
_OUTER_PLUMBING = {"Placeholder", "NoOp", "Identity"}
_MAX_DEPTH = 32  # TF functions cannot recurse; the cap only guards against a malformed library


def _tensor_info(name: str, spec: Any) -> TensorInfo:
    shape = tuple(spec.shape.as_list()) if spec.shape.rank is not None else None
    return TensorInfo(name, shape, spec.dtype.name)


def _called_functions(attrs: Any) -> list[str]:
    """Names of the functions a node refers to (call targets, While/If bodies and branches)."""
    names = []
    for value in attrs.values():
        if value.HasField("func"):
            names.append(value.func.name)
        elif value.HasField("list"):
            names.extend(f.name for f in value.list.func)
    return names


def _live_nodes(fn: Any) -> list[Any]:
    """The nodes of function ``fn`` its outputs depend on. TF's function runtime prunes the others before
    the function first runs (a converter's dead ends: an op written before a cheaper form was found)."""
    nodes = {n.name: n for n in fn.node_def}
    todo = [*fn.ret.values(), *fn.control_ret.values()]
    live: set[str] = set()
    while todo:
        name = todo.pop().lstrip("^").split(":")[0]
        if name in nodes and name not in live:
            live.add(name)
            todo.extend(nodes[name].input)
    return [n for n in fn.node_def if n.name in live]


def permutes(node: Any) -> bool:
    """A one-operand Einsum whose equation only reorders the axes (bridge's float32 transposes)."""
    if node.op != "Einsum" or sum(not i.startswith("^") for i in node.input) != 1:
        return False
    src, _, dst = node.attr["equation"].s.decode().partition("->")
    return sorted(src) == sorted(dst) and len(set(src)) == len(src) and "." not in src


def restacked(nodes: Any) -> dict[str, str]:
    """Pack node -> the Unpack whose pieces it stacks, all of them in order: a transpose (bridge's TF form of
    a small tensor's, converters/onnx_tf/ops/_common.permute)."""
    kinds = {n.name: n.op for n in nodes}
    pairs = {}
    for node in nodes:
        if node.op != "Pack":
            continue
        refs = [i.split(":") for i in node.input if not i.startswith("^")]
        sources = {r[0] for r in refs}
        if (len(sources) == 1 and kinds.get(refs[0][0]) == "Unpack"
                and [int(r[-1]) if len(r) > 1 else 0 for r in refs] == list(range(len(refs)))):
            pairs[node.name] = refs[0][0]
    return pairs


def function_op_histogram(graph_def: Any) -> tuple[Counter[str], int]:
    """Op types the graph runs, with every function call expanded (the nodes that reach its outputs); also
    the element count of Const ops."""
    library = {f.signature.name: f for f in graph_def.library.function}
    ops: Counter[str] = Counter()
    const_elements = 0

    def walk(nodes: Any, depth: int, outer: bool) -> None:
        nonlocal const_elements
        if depth > _MAX_DEPTH:
            return
        pairs = restacked(nodes)
        unpacks = set(pairs.values())
        for node in nodes:
            callees = [library[n] for n in _called_functions(node.attr) if n in library]
            if node.name in pairs:
                ops[PERMUTING_PACK] += 1
            elif (node.op not in _CALL_OPS and node.op != "NoOp" and node.name not in unpacks
                  and not (outer and node.op in _OUTER_PLUMBING)):
                ops[PERMUTING_EINSUM if permutes(node) else node.op] += 1
            if node.op == "Const" and "value" in node.attr:
                const_elements += math.prod(d.size for d in node.attr["value"].tensor.tensor_shape.dim)
            for fn in callees:
                walk(_live_nodes(fn), depth + 1, outer=False)

    walk(graph_def.node, 0, outer=True)
    return ops, const_elements


def _specialised(path: Path) -> list[str]:
    """Input dims that bridge's conversion fixed from the inputs it was given (from its name map)."""
    import json

    meta = Path(path) / "assets.extra" / "bridge.json"
    try:
        dims = json.loads(meta.read_text()).get("input_dims", []) if meta.is_file() else []
        return [f"{d['name']}[{a}]" for d in dims for a in d.get("specialised_axes", [])]
    except (ValueError, TypeError, KeyError, AttributeError):
        return []


def summarize_savedmodel(path: Path) -> ModelSummary:
    tf = import_tensorflow()
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:
        raise UsageError(f"TensorFlow cannot load the SavedModel {path}: {first_line(exc)}") from exc
    signatures = sorted(loaded.signatures.keys())
    if not signatures:
        raise UsageError(f"{path} has no signatures; save it with signatures={{'serving_default': fn}}")
    key = "serving_default" if "serving_default" in signatures else signatures[0]
    fn = loaded.signatures[key]
    summary = ModelSummary(str(path), "tf", note="SavedModel")
    summary.details.append(("signature", key + (f" (also: {', '.join(s for s in signatures if s != key)})"
                                                if len(signatures) > 1 else "")))
    args, kwargs = fn.structured_input_signature
    summary.inputs = [_tensor_info(getattr(s, "name", None) or f"arg{i}", s) for i, s in enumerate(args)]
    summary.inputs += [_tensor_info(name, spec) for name, spec in sorted(kwargs.items())]
    summary.details += dims_details(summary.inputs, _specialised(path))
    outputs = fn.structured_outputs
    if isinstance(outputs, dict):
        summary.outputs = [_tensor_info(name, t) for name, t in sorted(outputs.items())]
    else:
        flat = tf.nest.flatten(outputs)
        summary.outputs = [_tensor_info(f"output_{i}", t) for i, t in enumerate(flat)]
    variables = list(fn.variables)
    summary.parameters = sum(v.shape.num_elements() or 0 for v in variables)
    summary.counts.append(("variables", len(variables)))
    summary.ops, const_elements = function_op_histogram(fn.graph.as_graph_def())
    if const_elements:
        summary.counts.append(("constant elements", const_elements))
    summary.ops_title = "ops in the signature's functions"
    return summary


def savedmodel_op_histogram(path: Path, signature: str = "serving_default") -> Counter[str]:
    """The op histogram of ``signature`` read from ``saved_model.pb`` alone: no variable is restored, so a
    model with gigabytes of weights costs nothing here."""
    import_tensorflow()
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    try:
        saved.ParseFromString((Path(path) / "saved_model.pb").read_bytes())
    except Exception as exc:
        raise UsageError(f"{path} is not a readable SavedModel: {first_line(exc)}") from exc
    for meta_graph in saved.meta_graphs:
        if signature in meta_graph.signature_def:
            break
    else:
        raise UsageError(f"{path} has no '{signature}' signature")
    outputs = {t.name.split(":")[0] for t in meta_graph.signature_def[signature].outputs.values()}
    graph = type(meta_graph.graph_def)()
    graph.library.CopyFrom(meta_graph.graph_def.library)
    graph.node.extend(n for n in meta_graph.graph_def.node if n.name in outputs)
    return function_op_histogram(graph)[0]
