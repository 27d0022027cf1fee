"""Graph figures of one artifact: what decides how a deployment runs it.

Op count, transposes (layout changes a runtime must execute), casts, Flex ops (TF kernels inside a TFLite
file, which LiteRT without the Flex delegate cannot run) and, for TFLite, the share of nodes LiteRT's
default XNNPACK delegate takes (the rest runs on the slower builtin kernels). Read without loading
weights: an ONNX file without its external data, a SavedModel from its ``saved_model.pb``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PERMUTING_EINSUM", "PERMUTING_PACK", "GraphFigures", "figures_from_ops", "graph_figures",
           "xnnpack_coverage", "describe_figures"]

# How the TF op histogram names a one-operand Einsum that only reorders axes: bridge writes float32
# transposes so (converters/onnx_tf/ops/_common.permute), and each is a transpose the runtime executes.
PERMUTING_EINSUM = "Einsum (transpose)"
# ... and an Unpack whose pieces one Pack restacks in order: how it writes a small tensor's transpose in TF.
PERMUTING_PACK = "Unpack+Pack (transpose)"
# Op names per format: transposes and casts as each format spells them.
_TRANSPOSES = {"onnx": {"Transpose"}, "tf": {"Transpose", "ConjugateTranspose", PERMUTING_EINSUM, PERMUTING_PACK},
               "tflite": {"TRANSPOSE"}, "pt2": {"aten.permute.default", "aten.transpose.int", "aten.t.default"}}
_CASTS = {"onnx": {"Cast", "CastLike"}, "tf": {"Cast"}, "tflite": {"CAST"},
          "pt2": {"aten._to_copy.default", "aten.to.dtype"}}


@dataclass
class GraphFigures:
    format: str
    ops: int
    transposes: int
    casts: int
    flex_ops: int | None = None  # TFLite only
    flex: dict[str, int] = field(default_factory=dict)  # Flex op name -> count
    xnnpack_nodes: int | None = None  # TFLite only: nodes the XNNPACK delegate takes
    xnnpack_share: float | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"ops": self.ops, "transposes": self.transposes, "casts": self.casts}
        if self.flex_ops is not None:
            data["flex_ops"], data["flex"] = self.flex_ops, dict(self.flex)
        if self.xnnpack_share is not None:
            data["xnnpack_nodes"], data["xnnpack_share"] = self.xnnpack_nodes, round(self.xnnpack_share, 4)
        return data


def figures_from_ops(fmt: str, ops: Counter[str]) -> GraphFigures:
    figures = GraphFigures(fmt, sum(ops.values()), sum(ops[o] for o in _TRANSPOSES.get(fmt, ())),
                           sum(ops[o] for o in _CASTS.get(fmt, ())))
    if fmt == "tflite":
        figures.flex = {op: n for op, n in sorted(ops.items()) if op.startswith("Flex")}
        figures.flex_ops = sum(figures.flex.values())
    return figures


def xnnpack_coverage(path: str | Path) -> tuple[int, int]:
    """(nodes XNNPACK takes, nodes in the main subgraph) with LiteRT's default delegates applied.

    The interpreter keeps the original nodes and appends one DELEGATE node per partition; a partition is
    every node found walking back from a DELEGATE node's outputs to its inputs.
    """
    from ai_edge_litert.interpreter import Interpreter

    from bridge._frameworks import silenced_stderr

    with silenced_stderr():  # LiteRT's C++ "Created TensorFlow Lite XNNPACK delegate" line
        interpreter = Interpreter(model_path=str(path), num_threads=1)
        try:
            interpreter.allocate_tensors()  # delegates are applied here; a Flex op failing to prepare comes after
        except (RuntimeError, ValueError):
            pass
    ops = interpreter._get_ops_details()  # private but stable across tflite_runtime and LiteRT releases
    original = [op for op in ops if op["op_name"] != "DELEGATE"]
    producer = {int(t): op["index"] for op in original for t in op["outputs"]}
    by_index = {op["index"]: op for op in original}
    taken: set[int] = set()
    for delegate in (op for op in ops if op["op_name"] == "DELEGATE"):
        inputs = {int(t) for t in delegate["inputs"]}
        stack, seen = [int(t) for t in delegate["outputs"]], set()
        while stack:
            tensor = stack.pop()
            if tensor in seen or tensor in inputs or tensor not in producer:
                continue
            seen.add(tensor)
            node = producer[tensor]
            if node not in taken:
                taken.add(node)
                stack += [int(t) for t in by_index[node]["inputs"] if t >= 0]
    return len(taken), len(original)


def _onnx_ops(path: Path) -> Counter[str]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return Counter(node.op_type for node in model.graph.node)


def _tflite_ops(path: Path) -> Counter[str]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=str(path),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    return Counter(op["op_name"] for op in interpreter._get_ops_details())


def graph_figures(path: str | Path, fmt: str | None = None) -> GraphFigures | None:
    """Figures for the artifact at ``path`` (None for formats without a graph to count: aoti, torchscript)."""
    from bridge.artifacts import detect_format

    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt == "onnx":
        return figures_from_ops(fmt, _onnx_ops(path))
    if fmt == "tf":
        from bridge.inspect._tf import savedmodel_op_histogram

        return figures_from_ops(fmt, savedmodel_op_histogram(path))
    if fmt == "tflite":
        figures = figures_from_ops(fmt, _tflite_ops(path))
        figures.xnnpack_nodes, total = xnnpack_coverage(path)
        figures.xnnpack_share = figures.xnnpack_nodes / total if total else 0.0
        return figures
    return None


def describe_figures(figures: GraphFigures) -> str:
    """One line for the terminal: ``85 ops, 2 transposes, 0 casts, 0 Flex ops, XNNPACK takes 100% (85 of 85)``."""
    parts = [f"{figures.ops} ops", f"{figures.transposes} transposes", f"{figures.casts} casts"]
    if figures.flex_ops is not None:
        flex = f"{figures.flex_ops} Flex ops"
        if figures.flex:
            flex += " (" + ", ".join(f"{op} x{n}" for op, n in figures.flex.items()) + ")"
        parts.append(flex)
    if figures.xnnpack_share is not None:
        parts.append(f"XNNPACK takes {figures.xnnpack_share:.0%} of nodes ({figures.xnnpack_nodes} of {figures.ops})")
    return ", ".join(parts)
