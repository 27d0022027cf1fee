"""tf -> tflite with TensorFlow's own TFLite converter: float32, or a quantized variant.

Builtin TFLite ops only when the graph allows it; otherwise TF ops the builtins lack run through the Flex
delegate (select TF ops), and the artifact records which, since a runtime without that delegate (the
``ai-edge-litert`` Python package, for one) cannot run them.

A variant (``options.variant``: ``fp16``, ``dynamic``, ``int8``, ``int8x16``, ``int8+keep-float``) is quantized by
``tflite_quantize``; the artifact's flatbuffer then carries bridge's metadata entry (the mode, and the scale
and zero point of every integer input and output, which the runner applies).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bridge._frameworks import import_tensorflow
from bridge.errors import UnsupportedError, first_line
from bridge.model import Artifact, ConvertOptions
from bridge.registry import converter

__all__ = ["tf_to_tflite", "serving_converter", "tflite_savedmodel"]

NAME = "tf.lite.TFLiteConverter"


def serving_converter(saved_model: str) -> Any:
    """TensorFlow's TFLite converter for the ``serving_default`` signature of ``saved_model``.

    ``TFLiteConverter.from_saved_model`` first loads the whole SavedModel into Python only to list its
    signatures (about 1 s for ResNet-50's 94 MB), then converts from the directory anyway. Every bridge
    SavedModel has ``serving_default``, so this builds the converter that ``from_saved_model`` would return
    without that load; the flatbuffer is the same, byte for byte. Should TF's internals move, it falls back
    to ``from_saved_model``.
    """
    tf = import_tensorflow()
    try:
        from tensorflow.lite.python import conversion_metadata_schema_py_generated as metadata
        from tensorflow.lite.python import lite

        lite.TFLiteConverterBase._set_original_model_type(metadata.ModelType.TF_SAVED_MODEL)
        return lite.TFLiteSavedModelConverterV2(saved_model, {tf.saved_model.SERVING}, ["serving_default"])
    except (ImportError, AttributeError, TypeError):
        return tf.lite.TFLiteConverter.from_saved_model(saved_model, signature_keys=["serving_default"])


@contextlib.contextmanager
def tflite_savedmodel(source: Any, options: ConvertOptions, passes: Sequence[str] = ()) -> Iterator[str]:
    """The SavedModel directory TFLite's converter reads for ``source``.

    That is ``source`` itself, unless ``source`` was converted from an ONNX model earlier in this run and
    either ``passes`` (``bridge_converters.onnx_tf.passes``) are asked for or its serving function took forms
    that only TF runs faster (its ``tf_only_forms``, e.g. Unpack and Pack for a small input's transpose). Then
    it is rebuilt from that ONNX model, with the same input shapes, the passes and TFLite's forms: once per
    run and set of passes in the run's scratch folder (float, fp16 and int8 files share it), else in a
    temporary folder that goes when the block ends.
    """
    upstream = options.upstream.get("onnx")
    meta = getattr(source, "meta", None) or {}
    if upstream is None or not (passes or meta.get("tf_only_forms")):
        yield str(source.path)
        return
    if options.scratch is None:
        with tempfile.TemporaryDirectory(prefix="bridge-tflite-") as tmp:
            yield _rebuild(upstream, Path(tmp) / "savedmodel", options, passes)
        return
    kept = options.scratch / f".tflite-forms-{'-'.join(passes) or 'plain'}"
    yield str(kept) if (kept / "saved_model.pb").is_file() else _rebuild(upstream, kept, options, passes)


def _rebuild(onnx_model: Any, out_path: Path, options: ConvertOptions, passes: Sequence[str]) -> str:
    from bridge.registry import REGISTRY

    rebuild = replace(options, variant="", jit_compile=False, upstream={}, scratch=None,
                      extra={"passes": list(passes), "forms": "tflite"})
    return str(REGISTRY.get("onnx", "tf").fn(Artifact(format="onnx", path=Path(onnx_model.path)), out_path,
                                             rebuild).path)


def _convert(saved_model: str, allow_flex: bool) -> bytes:
    tf = import_tensorflow()
    tflite = serving_converter(saved_model)
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if allow_flex:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    tflite.target_spec.supported_ops = ops
    return tflite.convert()


def _flex_ops(flatbuffer: bytes) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=flatbuffer,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    return sorted({op["op_name"] for op in interpreter._get_ops_details() if op["op_name"].startswith("Flex")})


def _quantized(source: Any, out_path: Path, options: ConvertOptions) -> Artifact:
    from bridge.tflite_flatbuffer import with_metadata
    from bridge_converters.tflite_quantize import interface_params, quantize_savedmodel

    flatbuffer, info = quantize_savedmodel(source, options)
    interface = interface_params(flatbuffer)
    record = {"quantize": info["quantize"], "variant": options.variant,
              "int8_io": bool(options.extra.get("int8_io")) and info["quantize"] in ("int8", "int8x16"), **interface}
    if info.get("keep_float"):
        record["keep_float"] = info["keep_float"]["patterns"]
    flatbuffer = with_metadata(flatbuffer, record)
    Path(out_path).write_bytes(flatbuffer)
    meta = {**dict(getattr(source, "meta", {})), **record, "warnings": info.get("warnings", [])}
    meta["report"] = {k: info[k] for k in ("quantize", "calibration", "scales", "keep_float", "float_ops") if info.get(k)}
    if record["int8_io"]:
        meta["report"]["int8_io"] = True
    return Artifact(format="tflite", path=out_path, converter=f"{NAME} ({info['quantize']})",
                    input_names=list(source.input_names), output_names=list(source.output_names), meta=meta)


@converter(source="tf", target="tflite", name=NAME)
def tf_to_tflite(source: Any, out_path: Path, options: ConvertOptions) -> Artifact:
    if options.variant:
        return _quantized(source, out_path, options)
    meta = dict(getattr(source, "meta", {}))
    with tflite_savedmodel(source, options) as saved_model:
        try:
            flatbuffer = _convert(saved_model, allow_flex=False)
        except Exception:
            try:
                flatbuffer = _convert(saved_model, allow_flex=True)
            except Exception as exc:
                raise UnsupportedError(f"the TFLite converter refused the SavedModel: {first_line(exc)}") from exc
            meta["flex_ops"] = _flex_ops(flatbuffer)
    Path(out_path).write_bytes(flatbuffer)
    return Artifact(format="tflite", path=out_path, converter=NAME, input_names=list(source.input_names),
                    output_names=list(source.output_names), meta=meta)
