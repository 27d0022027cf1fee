"""Read and annotate a TFLite flatbuffer with LiteRT's own schema: bridge's metadata entry (the quantisation
mode, the input/output scales and zero points) and an op census (which kernels run in which type).

Only ``ai-edge-litert`` (the runtime) and ``flatbuffers`` are needed, not TensorFlow.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

__all__ = ["METADATA_NAME", "read_metadata", "with_metadata", "op_census", "OpRecord", "float_compute_ops", "detect_quantization",
           "COMPUTE_OPS"]

METADATA_NAME = "bridge"
# Ops that carry the arithmetic of a layer: the ones a "full integer" model must run in integers.
COMPUTE_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "BATCH_MATMUL", "CONV_3D")


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated as schema

    return schema


def _enum_names(cls: Any) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def read_metadata(data: bytes) -> dict[str, Any]:
    """bridge's metadata entry (a JSON object), or {} when the model has none."""
    schema = _schema()
    model = schema.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() and entry.Name().decode() == METADATA_NAME:
            buffer = model.Buffers(entry.Buffer())
            raw = bytes(buffer.DataAsNumpy()) if buffer.DataLength() else b""
            if not raw and buffer.Offset():  # large models keep buffers after the flatbuffer
                raw = bytes(data[buffer.Offset():buffer.Offset() + buffer.Size()])
            try:
                value = json.loads(raw.decode() or "{}")
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def with_metadata(data: bytes, meta: dict[str, Any]) -> bytes:
    """``data`` with bridge's metadata entry set to ``meta`` (replacing an earlier one)."""
    import flatbuffers
    import numpy as np

    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    model.buffers = list(model.buffers or []) + [buffer]
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    kept = [m for m in (model.metadata or []) if (m.name.decode() if isinstance(m.name, bytes) else m.name) != METADATA_NAME]
    model.metadata = kept + [entry]
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@dataclass(frozen=True)
class OpRecord:
    op: str  # builtin op name, e.g. "CONV_2D"
    input_type: str  # the first input's tensor type, e.g. "INT8" or "FLOAT32"
    weight_type: str  # the second input's type ("" when it has none): INT8 weights under a float op = hybrid


def op_census(data: bytes) -> list[OpRecord]:
    """Every operator of the main subgraph with the types of its first two inputs."""
    schema = _schema()
    ops, types = _enum_names(schema.BuiltinOperator), _enum_names(schema.TensorType)
    model = schema.Model.GetRootAs(data, 0)
    graph = model.Subgraphs(0)
    records = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = ops.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        if name == "CUSTOM" and code.CustomCode():
            name = code.CustomCode().decode()
        inputs = [op.Inputs(j) for j in range(op.InputsLength())]
        kinds = [types.get(graph.Tensors(t).Type(), "?") if t >= 0 else "" for t in inputs[:2]]
        records.append(OpRecord(name, kinds[0] if kinds else "", kinds[1] if len(kinds) > 1 else ""))
    return records


def float_compute_ops(data: bytes) -> Counter[str]:
    """Compute ops (conv, fully connected, matmul) that run on float inputs, by op name."""
    return Counter(r.op for r in op_census(data) if r.op in COMPUTE_OPS and r.input_type in ("FLOAT32", "FLOAT16"))


def detect_quantization(data: bytes) -> str:
    """The quantisation mode a model's kernels show, for models without bridge's metadata: "int8" (integer
    compute ops), "int8x16" (int16 activations), "dynamic" (float ops on int8 weights), "fp16" (float16
    weights dequantized), or "" (float)."""
    records = op_census(data)
    compute = [r for r in records if r.op in COMPUTE_OPS]
    if any(r.input_type == "INT16" for r in compute):
        return "int8x16"
    if any(r.input_type in ("INT8", "UINT8") for r in compute):
        return "int8"
    if any(r.weight_type == "INT8" for r in compute):
        return "dynamic"
    if any(r.op == "DEQUANTIZE" and r.input_type == "FLOAT16" for r in records):
        return "fp16"
    return ""
