"""TFLite: signature inputs/outputs, builtin op histogram, tensor count and a weight estimate (LiteRT)."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

from bridge.errors import UsageError, first_line
from bridge.inspect import ModelSummary, TensorInfo, dims_details

__all__ = ["summarize_tflite"]


def _info(name: str, detail: dict[str, Any]) -> TensorInfo:
    import numpy as np

    # shape_signature keeps -1 for dynamic axes; shape is the currently allocated one.
    dims = detail.get("shape_signature")
    if dims is None or len(dims) != len(detail["shape"]):
        dims = detail["shape"]
    shape = tuple(int(d) if d >= 0 else None for d in dims)
    dtype = str(np.dtype(detail["dtype"]))
    scale, zero = detail.get("quantization", (0.0, 0))
    if scale:
        dtype += f" (quantized scale={scale:g} zero_point={zero})"
    return TensorInfo(name, shape, dtype)


def summarize_tflite(path: Path) -> ModelSummary:
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError as exc:
        raise UsageError("inspecting .tflite needs ai-edge-litert; pip install ai-edge-litert") from exc
    try:
        # Without default delegates: XNNPACK would replace the ops with one DELEGATE node in the histogram.
        interpreter = Interpreter(model_path=str(path),
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        signatures = interpreter.get_signature_list()
    except Exception as exc:
        raise UsageError(f"LiteRT cannot load {path}: {first_line(exc)}") from exc
    summary = ModelSummary(str(path), "tflite")
    if signatures:
        key = "serving_default" if "serving_default" in signatures else sorted(signatures)[0]
        runner = interpreter.get_signature_runner(key)
        summary.details.append(("signature", key))
        summary.inputs = [_info(n, d) for n, d in runner.get_input_details().items()]
        summary.outputs = [_info(n, d) for n, d in runner.get_output_details().items()]
    else:  # a model converted without signatures: tensor names are all there is
        summary.inputs = [_info(d["name"], d) for d in interpreter.get_input_details()]
        summary.outputs = [_info(d["name"], d) for d in interpreter.get_output_details()]

    summary.details += dims_details(summary.inputs)
    tensors = interpreter.get_tensor_details()
    summary.counts.append(("tensors", len(tensors)))
    try:
        ops = interpreter._get_ops_details()  # private but stable across tflite_runtime and LiteRT releases
    except Exception:
        ops = None
    if ops is None:
        return summary
    summary.ops = Counter(op["op_name"] for op in ops)
    summary.ops_title = "ops in the main subgraph"
    # Weights are tensors ops read but no op writes and the caller does not feed: the model's constant buffers.
    produced = {int(i) for op in ops for i in op["outputs"]}
    fed = {int(d["index"]) for d in interpreter.get_input_details()}
    read = {int(i) for op in ops for i in op["inputs"] if i >= 0}
    by_index = {int(t["index"]): t for t in tensors}
    constants = [by_index[i] for i in read - produced - fed if i in by_index]
    summary.parameters = sum(math.prod(int(d) for d in t["shape"]) for t in constants)
    summary.counts.append(("constant tensors", len(constants)))
    return summary
