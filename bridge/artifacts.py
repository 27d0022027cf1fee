"""Recognise an existing artifact on disk by its name and contents."""

from __future__ import annotations

from pathlib import Path

from bridge.errors import UsageError
from bridge.model import Artifact

__all__ = ["open_artifact", "detect_format"]


def detect_format(path: Path) -> str:
    name = path.name.lower()
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "tf"
        raise UsageError(f"{path} is a folder but not a SavedModel (no saved_model.pb)")
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    if name.endswith(".onnx"):
        return "onnx"
    if name.endswith(".tflite"):
        return "tflite"
    if name.endswith("_aoti.pt2"):
        return "aoti"
    if name.endswith(".pt2"):
        return "pt2"
    if name.endswith((".torchscript.pt", ".ts")):
        return "torchscript"
    raise UsageError(f"cannot tell the format of {path}; expected .onnx, .tflite, .pt2 or a SavedModel folder")


def open_artifact(path: str | Path) -> Artifact:
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "onnx":
        from bridge.onnx_io import load_onnx_checked

        load_onnx_checked(path, load_external_data=False)
    if fmt == "tflite":
        return _tflite_artifact(path)
    return Artifact(format=fmt, path=path)


def _tflite_artifact(path: Path) -> Artifact:
    """A .tflite with what bridge recorded in it; a quantized model from elsewhere is recognised by its kernels."""
    from bridge.tflite_flatbuffer import detect_quantization, read_metadata

    try:
        data = path.read_bytes()
        meta = read_metadata(data)
        meta.setdefault("quantize", detect_quantization(data))
    except Exception as exc:  # not a flatbuffer: the runner will say so when it loads it
        return Artifact(format="tflite", path=path, meta={"unreadable": type(exc).__name__})
    if meta["quantize"]:
        meta["report"] = {"quantize": meta["quantize"]}
    else:
        meta.pop("quantize")
    return Artifact(format="tflite", path=path, variant=str(meta.get("variant") or meta.get("quantize") or ""),
                    meta=meta)
