"""Caffe: a deploy.prototxt's inputs, outputs, layers by type and parameter count (from the shapes the
prototxt implies, so no weights are needed). Read through the caffe -> onnx edge's describer."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bridge.inspect import ModelSummary, TensorInfo

__all__ = ["summarize_caffe"]


def summarize_caffe(path: Path) -> ModelSummary:
    from bridge.sources_caffe import describe_caffe

    info = describe_caffe(path)
    summary = ModelSummary(str(path), "caffe", note=f"{info['format']} form", ops_title="layers")
    summary.details.append(("net", info["name"]))
    summary.inputs = [TensorInfo(i["name"], tuple(i["shape"]), i["dtype"]) for i in info["inputs"]]
    summary.outputs = [TensorInfo(o["name"], tuple(o["shape"]) if o["shape"] is not None else None, "float32")
                       for o in info["outputs"]]
    summary.parameters = info["parameters"]
    if info["unsupported"]:
        summary.details.append(("unsupported", ", ".join(f"{t} x{n}" for t, n in sorted(info["unsupported"].items()))))
    summary.ops = Counter(info["layers"])
    return summary
