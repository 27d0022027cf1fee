"""Caffe -> ONNX: our own reader of ``deploy.prototxt`` + ``.caffemodel`` and one handler per layer type.

Importing this package registers the ``caffe -> onnx`` edge and every layer handler in ``layers/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge.model import Artifact, ConvertOptions
from bridge.registry import converter
from bridge_converters.caffe_onnx.build import DETECTIONS_KEY, LAYERS_KEY, build_onnx, describe_net
from bridge_converters.caffe_onnx.registry import LAYERS, caffe_layer

__all__ = ["LAYERS", "caffe_layer", "build_onnx", "describe_net", "caffe_to_onnx", "LAYERS_KEY", "DETECTIONS_KEY",
           "CONVERTER_NAME"]

CONVERTER_NAME = "bridge caffe_onnx"


def _files(source: Any) -> tuple[Path, Path | None]:
    handle = source.handle
    prototxt = Path(getattr(handle, "prototxt", source.path))
    weights = getattr(handle, "weights", None)
    return prototxt, Path(weights) if weights is not None else None


@converter(source="caffe", target="onnx", name=CONVERTER_NAME, describe=describe_net)
def caffe_to_onnx(source: Any, out_path: Path, options: ConvertOptions) -> Artifact:
    """Convert the prototxt (and weights) of ``source`` into an ONNX file at ``out_path``."""
    import onnx

    prototxt, weights = _files(source)
    model = build_onnx(prototxt, weights, options.opset)
    onnx.save(model, str(out_path))
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return Artifact(format="onnx", path=out_path, converter=CONVERTER_NAME,
                    input_names=[i.name for i in model.graph.input],
                    output_names=[o.name for o in model.graph.output],
                    meta={"exporter": CONVERTER_NAME, "opset": opset, "detections": _detections(model)})


def _detections(model: Any) -> dict[str, Any]:
    import json

    meta = {p.key: p.value for p in model.metadata_props}
    return json.loads(meta[DETECTIONS_KEY]) if DETECTIONS_KEY in meta else {}
