"""tf -> tflite with TensorFlow's own TFLite converter (float32, no quantisation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge._frameworks import import_tensorflow
from bridge.errors import UnsupportedError, first_line
from bridge.model import Artifact, ConvertOptions
from bridge.registry import converter

__all__ = ["tf_to_tflite"]

NAME = "tf.lite.TFLiteConverter"


@converter(source="tf", target="tflite", name=NAME)
def tf_to_tflite(source: Any, out_path: Path, options: ConvertOptions) -> Artifact:
    tf = import_tensorflow()
    tflite = tf.lite.TFLiteConverter.from_saved_model(str(source.path), signature_keys=["serving_default"])
    # Ops without a TFLite builtin fall back to TF kernels (Flex) instead of failing the conversion.
    tflite.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    try:
        flatbuffer = tflite.convert()
    except Exception as exc:
        raise UnsupportedError(f"the TFLite converter refused the SavedModel: {first_line(exc)}") from exc
    Path(out_path).write_bytes(flatbuffer)
    return Artifact(format="tflite", path=out_path, converter=NAME, input_names=list(source.input_names),
                    output_names=list(source.output_names), meta=dict(getattr(source, "meta", {})))
