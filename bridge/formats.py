"""Formats are the nodes of the conversion graph."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Format", "FORMATS", "get_format", "SOURCE_FORMATS"]


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    suffix: str  # appended to the model stem to name the artifact; a trailing "/" means a directory
    runtime: str  # the runner that executes it

    @property
    def is_directory(self) -> bool:
        return self.suffix.endswith("/")

    def artifact_name(self, stem: str) -> str:
        return stem + self.suffix.rstrip("/")


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("torch", "PyTorch nn.Module (eager)", "", "torch"),
        Format("caffe", "Caffe deploy.prototxt (+ .caffemodel weights)", ".prototxt", "opencv-dnn"),
        Format("onnx", "ONNX model file", ".onnx", "onnxruntime"),
        Format("tf", "TensorFlow SavedModel directory", "_savedmodel/", "tensorflow"),
        Format("tflite", "TensorFlow Lite flatbuffer", ".tflite", "tflite"),
        Format("pt2", "torch.export ExportedProgram", ".pt2", "pt2"),
        Format("aoti", "AOTInductor package", "_aoti.pt2", "aoti"),
        Format("torchscript", "TorchScript module (legacy)", ".torchscript.pt", "torchscript"),
    )
}

# Formats a SOURCE may be given in (the torch source is a live module, never an artifact).
SOURCE_FORMATS = ("torch", "onnx", "pt2", "caffe")


def get_format(name: str) -> Format:
    from bridge.errors import UsageError

    key = name.strip().lower()
    if key not in FORMATS:
        known = ", ".join(n for n in FORMATS if n != "torch")
        raise UsageError(f"unknown format '{name}'; choose from: {known}")
    return FORMATS[key]
