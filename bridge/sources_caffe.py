"""Caffe SOURCEs: a ``deploy.prototxt`` and, through ``--weights``, its ``.caffemodel``. Both are data:
reading them runs no code. The prototxt is described through the registry (the caffe -> onnx edge reads
Caffe's format), so the core never imports a converter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bridge.errors import UsageError
from bridge.model import InputSpec, Model

__all__ = ["CaffeFiles", "load_caffe", "with_caffe_weights", "describe_caffe", "CAFFE_SUFFIXES", "CAFFE_LAYER_KEY",
           "CAFFE_LAYERS_KEY"]

CAFFE_SUFFIXES = (".prototxt",)
# Metadata the caffe -> onnx edge writes: on each node, the Caffe layer it came from; on the model, every
# layer with the ONNX tensors of its tops (and the layers folded into it), for localisation.
CAFFE_LAYER_KEY = "bridge.caffe_layer"
CAFFE_LAYERS_KEY = "bridge.caffe_layers"


@dataclass(frozen=True)
class CaffeFiles:
    """A Caffe model on disk: the network text and, once given, the binary weights."""

    prototxt: Path
    weights: Path | None = None


def describe_caffe(path: Path) -> dict:
    from bridge.registry import REGISTRY

    describe = REGISTRY.describer("caffe")
    if describe is None:
        raise UsageError("reading Caffe models needs the caffe -> onnx converter; reinstall bridge")
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    return describe(path)


def load_caffe(path: Path) -> Model:
    info = describe_caffe(path)
    specs = [InputSpec(i["name"], tuple(i["shape"]), i["dtype"]) for i in info["inputs"]]
    return Model(format="caffe", handle=CaffeFiles(path), path=str(path), stem=path.stem,
                 input_names=[s.name for s in specs], output_names=[o["name"] for o in info["outputs"]],
                 input_specs=specs)


def with_caffe_weights(model: Model, weights: str | Path) -> Model:
    path = Path(weights)
    if not path.is_file():
        raise UsageError(f"no such weights file: {path}")
    if path.suffix.lower() in (".safetensors", ".pt", ".pth"):
        raise UsageError(f"{path} is PyTorch weights; a Caffe SOURCE takes its .caffemodel with --weights")
    model.handle = CaffeFiles(Path(model.handle.prototxt), path)
    return model
