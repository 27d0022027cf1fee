"""torch.export ``.pt2``: user inputs/outputs from the graph signature, aten op histogram, state_dict sizes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from bridge.errors import UsageError, first_line
from bridge.inspect import ModelSummary, TensorInfo

__all__ = ["summarize_pt2"]

NAMES_FILE = "bridge.json"  # the names bridge stores beside the program (see bridge/runtimes/torch_native.py)


def _info(name: str, node: Any) -> TensorInfo:
    val = node.meta.get("val") if node is not None else None
    shape = getattr(val, "shape", None)
    # Dynamic axes are SymInts: print their symbol (s0, s77) rather than a guess.
    dims = tuple(int(d) if isinstance(d, int) else str(d) for d in shape) if shape is not None else None
    dtype = str(getattr(val, "dtype", "")).removeprefix("torch.")
    if val is not None and shape is None:  # a non-tensor output (int, float, None)
        dtype = type(val).__name__
    return TensorInfo(name, dims, dtype)


def summarize_pt2(path: Path) -> ModelSummary:
    from bridge._frameworks import quiet_torch_onnx_logs

    quiet_torch_onnx_logs()
    import torch

    extra = {NAMES_FILE: ""}
    try:
        program = torch.export.load(str(path), extra_files=extra)
    except Exception as exc:
        raise UsageError(f"torch.export cannot load {path}: {first_line(exc)}") from exc
    stored = json.loads(extra[NAMES_FILE]) if extra[NAMES_FILE] else {}
    graph = program.graph_module.graph
    nodes = {n.name: n for n in graph.nodes}
    signature = program.graph_signature
    summary = ModelSummary(str(path), "pt2", note="torch.export")

    from torch.export.graph_signature import InputKind, OutputKind

    user_inputs = [spec for spec in signature.input_specs if spec.kind == InputKind.USER_INPUT]
    in_names = stored.get("inputs") or []
    for i, spec in enumerate(user_inputs):
        name = getattr(spec.arg, "name", f"arg{i}")
        label = in_names[i] if len(in_names) == len(user_inputs) else name
        summary.inputs.append(_info(label, nodes.get(name)))
    output_node = next((n for n in graph.nodes if n.op == "output"), None)
    returned = list(output_node.args[0]) if output_node is not None else []
    # The output node returns mutated buffers and user outputs in the order of output_specs.
    user_outputs = [(spec, value) for spec, value in zip(signature.output_specs, returned)
                    if spec.kind == OutputKind.USER_OUTPUT]
    out_names = stored.get("outputs") or []
    for i, (spec, value) in enumerate(user_outputs):
        label = out_names[i] if len(out_names) == len(user_outputs) else getattr(spec.arg, "name", f"output_{i}")
        summary.outputs.append(_info(str(label), value if hasattr(value, "meta") else None))

    state = program.state_dict
    params = set(signature.parameters)
    summary.parameters = sum(t.numel() for k, t in state.items() if k in params)
    summary.counts.append(("parameter tensors", len(params)))
    buffers = [t for k, t in state.items() if k not in params]
    if buffers:
        summary.counts.append(("buffer elements", sum(t.numel() for t in buffers)))
    constants = [t for t in program.constants.values() if isinstance(t, torch.Tensor)]
    if constants:
        summary.counts.append(("constant elements", sum(t.numel() for t in constants)))
    summary.ops = Counter(str(n.target) for n in graph.nodes if n.op == "call_function")
    summary.ops_title = "call_function nodes"
    return summary
