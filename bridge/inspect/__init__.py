"""``bridge inspect``: a model file's interface and contents, for every format bridge writes.

Each format module fills one :class:`ModelSummary`; :func:`format_summary` prints them all the same way, so
the text of an ONNX file and of the SavedModel converted from it line up. Frameworks are imported inside the
format modules only when a file of that format is inspected (``bridge --help`` stays light).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bridge.artifacts import detect_format
from bridge.errors import UsageError

__all__ = ["inspect_file", "summarize_file", "format_summary", "ModelSummary", "TensorInfo"]

Dim = int | str | None


@dataclass
class TensorInfo:
    """One input or output: ``shape`` holds ints, symbolic names or None (unknown); None shape = unknown rank."""

    name: str
    shape: tuple[Dim, ...] | None
    dtype: str


@dataclass
class ModelSummary:
    path: str
    format: str
    note: str = ""  # after the format in the header line, e.g. "ir_version 8"
    details: list[tuple[str, str]] = field(default_factory=list)  # e.g. ("opsets", "ai.onnx=17")
    inputs: list[TensorInfo] = field(default_factory=list)
    outputs: list[TensorInfo] = field(default_factory=list)
    parameters: int | None = None
    counts: list[tuple[str, int]] = field(default_factory=list)  # other totals: variables, tensors, buffers
    ops: Counter[str] = field(default_factory=Counter)
    ops_title: str = "nodes"


def _shape(dims: tuple[Dim, ...] | None) -> str:
    if dims is None:
        return "?"
    return "x".join("?" if d is None else str(d) for d in dims) or "scalar"


def format_summary(summary: ModelSummary) -> str:
    """The text ``bridge inspect`` prints."""
    note = f", {summary.note}" if summary.note else ""
    lines = [f"{summary.path}  ({summary.format}{note})"]
    lines += [f"{key}: {value}" for key, value in summary.details]
    for title, tensors in (("inputs", summary.inputs), ("outputs", summary.outputs)):
        lines.append(f"{title}:")
        lines += [f"  {t.name}: {_shape(t.shape)} {t.dtype}".rstrip() for t in tensors] or ["  (none)"]
    if summary.parameters is not None:
        lines.append(f"parameters: {summary.parameters:,}")
    lines += [f"{key}: {value:,}" for key, value in summary.counts]
    if summary.ops:
        lines.append(f"ops ({sum(summary.ops.values())} {summary.ops_title}):")
        for op, count in sorted(summary.ops.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {op:<24} {count}")
    else:
        lines.append("ops: not available for this file")
    return "\n".join(lines)


def summarize_file(file: str | Path) -> ModelSummary:
    """Read ``file`` (``.onnx``, SavedModel folder, ``.tflite``, ``.pt2``, Caffe ``.prototxt``) into a
    :class:`ModelSummary`."""
    path = Path(file)
    if path.suffix.lower() == ".prototxt":
        from bridge.inspect._caffe import summarize_caffe

        return summarize_caffe(path)
    fmt = detect_format(path)
    if fmt == "onnx":
        from bridge.inspect._onnx import summarize_onnx

        return summarize_onnx(path)
    if fmt == "tf":
        from bridge.inspect._tf import summarize_savedmodel

        return summarize_savedmodel(path)
    if fmt == "tflite":
        from bridge.inspect._tflite import summarize_tflite

        return summarize_tflite(path)
    if fmt == "pt2":
        from bridge.inspect._pt2 import summarize_pt2

        return summarize_pt2(path)
    raise UsageError(f"bridge inspect reads .onnx, SavedModel folders, .tflite, .pt2 and Caffe .prototxt; {path} is {fmt}")


def inspect_file(file: str | Path) -> str:
    """What ``bridge inspect FILE`` prints: inputs, outputs, parameter count, op histogram."""
    return format_summary(summarize_file(file))
