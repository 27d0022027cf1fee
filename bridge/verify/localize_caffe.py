"""Find the first Caffe layer whose output leaves tolerance between OpenCV (the Caffe reference) and the
ONNX model converted from it, run in ONNX Runtime.

The caffe -> onnx edge names ONNX tensors after Caffe blobs and records, per layer, the tensors of its
tops (``bridge.caffe_layers``); OpenCV returns any layer's outputs, with its layer fusion turned off so
every layer is seen on its own. A layer that absorbed a BatchNorm and Scale is compared at the Scale.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bridge.errors import UsageError
from bridge.model import Model
from bridge.sources_caffe import CAFFE_LAYERS_KEY
from bridge.verify.compare import Tolerances, compare_output
from bridge.verify.localize import Localization, ort_with_outputs

__all__ = ["localize_caffe"]


def localize_caffe(source: Model, onnx_path: str | Path, feeds: Mapping[str, Any],
                   tolerances: Tolerances | None = None) -> Localization:
    import numpy as np
    import onnx

    from bridge.runtimes import load_runner

    tolerances = tolerances or Tolerances()
    model = onnx.load(str(onnx_path))
    meta = {p.key: p.value for p in model.metadata_props}
    if CAFFE_LAYERS_KEY not in meta:
        raise UsageError(f"{onnx_path} was not converted from Caffe by bridge; it names no Caffe layers")
    entries = [e for e in json.loads(meta[CAFFE_LAYERS_KEY]) if e["type"] not in ("Input", "DetectionOutput")]
    # the OpenCV layer whose outputs the entry's tops hold: the last layer folded in, else the layer itself
    caffe_layer = {e["layer"]: (e["folded"][-1] if e["folded"] else e["layer"]) for e in entries}
    onnx_values = ort_with_outputs(model, feeds, [t for e in entries for t in e["tops"]])
    runner = load_runner(source)
    caffe = runner.layer_outputs(dict(feeds), list(dict.fromkeys(caffe_layer.values())))
    result = Localization(candidate="onnxruntime", reference="opencv-dnn", checked=0)
    errors: dict[str, float] = {}
    for entry in entries:
        values = caffe.get(caffe_layer[entry["layer"]], [])
        for index, tensor in enumerate(entry["tops"]):
            if index >= len(values) or tensor not in onnx_values or np.shape(onnx_values[tensor]) != np.shape(values[index]):
                continue
            atol, rtol = tolerances.for_output(tensor)
            parity = compare_output(tensor, values[index], onnx_values[tensor], atol, rtol)
            errors[tensor] = parity.max_abs
            result.checked += 1
            if not parity.passed:
                name = caffe_layer[entry["layer"]]
                result.node, result.op_type, result.output, result.layer = name, entry["type"], tensor, name
                result.max_abs, result.max_rel = parity.max_abs, parity.max_rel
                return result
    return result
