"""ONNX: opsets, graph inputs (without initializers), outputs, initializer sizes, node op types."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from bridge.inspect import ModelSummary, TensorInfo, dims_details

__all__ = ["summarize_onnx"]


def summarize_onnx(path: Path) -> ModelSummary:
    from bridge.onnx_io import load_onnx_checked, onnx_dtype_name, onnx_input_specs

    model = load_onnx_checked(path, load_external_data=False)  # dims are enough: weights stay on disk
    summary = ModelSummary(str(path), "onnx", note=f"ir_version {model.ir_version}")
    summary.details.append(("opsets", ", ".join(f"{o.domain or 'ai.onnx'}={o.version}" for o in model.opset_import)))
    summary.inputs = [TensorInfo(s.name, s.shape, s.dtype) for s in onnx_input_specs(model)]
    summary.details += dims_details(summary.inputs)
    for out in model.graph.output:
        t = out.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim)
        summary.outputs.append(TensorInfo(out.name, dims if t.HasField("shape") else None, onnx_dtype_name(t.elem_type)))
    summary.parameters = sum(math.prod(init.dims) for init in model.graph.initializer)
    summary.counts.append(("initializers", len(model.graph.initializer)))
    # Subgraphs (If/Loop bodies) are not walked: the top-level histogram is what matches converter support lists.
    summary.ops = Counter(node.op_type for node in model.graph.node)
    return summary
