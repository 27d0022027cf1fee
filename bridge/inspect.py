"""``bridge inspect``: a model file's interface and contents."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bridge.artifacts import detect_format
from bridge.errors import UsageError

__all__ = ["inspect_file"]


def _shape(dims: tuple) -> str:
    return "x".join("?" if d is None else str(d) for d in dims) or "scalar"


def inspect_file(file: str) -> str:
    path = Path(file)
    fmt = detect_format(path)
    if fmt != "onnx":
        raise UsageError(f"bridge inspect reads ONNX files for now; {path} is {fmt}")
    from bridge.onnx_io import load_onnx_checked, onnx_dtype_name, onnx_input_specs

    model = load_onnx_checked(path)
    lines = [f"{path}  (onnx, ir_version {model.ir_version})"]
    opsets = ", ".join(f"{o.domain or 'ai.onnx'}={o.version}" for o in model.opset_import)
    lines.append(f"opsets: {opsets}")
    lines.append("inputs:")
    for spec in onnx_input_specs(model):
        lines.append(f"  {spec.name}: {_shape(spec.shape)} {spec.dtype}")
    lines.append("outputs:")
    for out in model.graph.output:
        t = out.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim)
        lines.append(f"  {out.name}: {_shape(dims)} {onnx_dtype_name(t.elem_type)}")
    params = 0
    for init in model.graph.initializer:
        n = 1
        for d in init.dims:
            n *= d
        params += n
    lines.append(f"parameters: {params:,}")
    hist = Counter(node.op_type for node in model.graph.node)
    lines.append(f"ops ({sum(hist.values())} nodes):")
    for op, count in sorted(hist.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {op:<24} {count}")
    return "\n".join(lines)
