"""Quantized TFLite from a SavedModel with TensorFlow's own converter and quantizer (the tf -> tflite edge's
``--quantize`` modes).

- ``fp16``: float16 weights (``target_spec.supported_types``), float kernels.
- ``dynamic``: dynamic-range int8 weights, float activations (``optimizations`` without a data set).
- ``int8``: full integer, per-channel weights, scales from the calibration samples
  (``representative_dataset``); integer kernels only (``TFLITE_BUILTINS_INT8``) where every op has one,
  otherwise the ops without are left in float and listed.
- ``int8x16``: int8 weights, int16 activations (``EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8``).
- ``int8+keep-float``: int8 with the layers named by ``--keep-float`` left in float, through TF's
  ``QuantizationDebugger`` (its denylisted nodes).
- An ONNX model that is already quantized (QuantizeLinear/DequantizeLinear pairs, QLinearConv, QLinearMatMul)
  keeps its own scales: the onnx -> tf edge turns its Q/DQ pairs into TF fake-quant ops and the TFLite
  converter makes integer kernels from them, so no calibration is involved.

The integer modes convert from a SavedModel of their own when the ONNX model has padded MaxPools: the
float one pads them with -inf, which int8 cannot represent (see ``passes/edge_pad_max_pool.py``).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bridge.errors import UnsupportedError, UsageError, first_line
from bridge.model import ConvertOptions
from bridge.names import sanitize_names
from bridge.quantize import KEEP_FLOAT, match_layers, mode_of, onnx_layers, tensor_nodes
from bridge.tflite_flatbuffer import op_census
from bridge_converters.tf_tflite import serving_converter, tflite_savedmodel

__all__ = ["quantize_savedmodel", "PREQUANTIZED_OPS", "is_prequantized", "interface_params"]

PREQUANTIZED_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul"}
_GLUE = {"QUANTIZE", "DEQUANTIZE"}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # The quantizer prints "fully_quantize: 0, ..." from C++ straight to the process's stderr, and its
    # calibrator (like the QuantizationDebugger) runs tf.lite.Interpreter, which warns that it is deprecated.
    from bridge._frameworks import _silenced_fd2

    with _silenced_fd2(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated", category=UserWarning)
        yield


def _dataset(batches: Sequence[dict[str, Any]], input_map: dict[str, str]) -> Callable[[], Iterator[dict[str, Any]]]:
    """A representative data set: one dict per batch, keyed by the serving signature's input names."""
    def generate() -> Iterator[dict[str, Any]]:
        for batch in batches:
            aliases = sanitize_names(list(batch))
            yield {input_map.get(name) or aliases[name]: value for name, value in batch.items()}

    return generate


def _onnx_path(options: ConvertOptions) -> Path | None:
    upstream = options.upstream.get("onnx")
    return Path(upstream.path) if upstream is not None else None


def is_prequantized(onnx_path: Path | None) -> bool:
    if onnx_path is None:
        return False
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    return any(n.op_type in PREQUANTIZED_OPS and n.domain in ("", "ai.onnx") for n in model.graph.node)


def interface_params(flatbuffer: bytes) -> dict[str, dict[str, dict[str, Any]]]:
    """Scale, zero point and dtype of each signature input and output (scale 0: a float tensor)."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=flatbuffer,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    runner = interpreter.get_signature_runner("serving_default")

    def params(details: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {name: {"dtype": str(np.dtype(d["dtype"])), "scale": float(d["quantization"][0]),
                       "zero_point": int(d["quantization"][1])} for name, d in details.items()}

    return {"input_quantization": params(runner.get_input_details()),
            "output_quantization": params(runner.get_output_details())}


def _float_ops(flatbuffer: bytes) -> list[str]:
    """Ops other than the quantize/dequantize glue that run on float inputs, for full-integer modes."""
    return sorted({r.op for r in op_census(flatbuffer) if r.op not in _GLUE and r.input_type in ("FLOAT32", "FLOAT16")})


def _integer_savedmodel(source: Any, options: ConvertOptions,
                        passes: Sequence[str] = ()) -> contextlib.AbstractContextManager[str]:
    """The SavedModel to quantize (``tf_tflite.tflite_savedmodel``), rebuilt with ``passes`` and, where the
    ONNX model has padded MaxPools, edge padding for them."""
    onnx_path = _onnx_path(options)
    passes = list(passes)
    if onnx_path is not None:
        import onnx

        from bridge_converters.onnx_tf.passes.edge_pad_max_pool import padded_max_pools

        if padded_max_pools(onnx.load(str(onnx_path), load_external_data=False)):
            passes.append("edge_pad_max_pool")
    return tflite_savedmodel(source, options, passes)


def _integer(source: Any, mode: str, options: ConvertOptions, info: dict[str, Any]) -> bytes:
    """Post-training full-integer quantisation from the calibration batches; integer kernels only if possible."""
    with _integer_savedmodel(source, options) as saved_model:
        return _integer_from(saved_model, source, mode, options, info)


def _integer_from(saved_model: str, source: Any, mode: str, options: ConvertOptions, info: dict[str, Any]) -> bytes:
    import tensorflow as tf

    batches = options.extra.get("calibration") or []
    if not batches:
        raise UsageError(f"--quantize {mode} needs calibration samples; pass --calibration FILE.npz")
    ops_set = (tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if mode == "int8"
               else tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8)
    io_type = tf.int8 if mode == "int8" else tf.int16

    def attempt(allow_float: bool) -> bytes:
        converter = serving_converter(saved_model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _dataset(batches, source.meta.get("inputs", {}))
        converter.target_spec.supported_ops = [ops_set, tf.lite.OpsSet.TFLITE_BUILTINS] if allow_float else [ops_set]
        if options.extra.get("int8_io"):
            converter.inference_input_type = converter.inference_output_type = io_type
        with _quiet():
            return converter.convert()

    try:
        return attempt(allow_float=False)
    except Exception as strict:  # an op without an integer kernel: keep it in float and say which
        try:
            flatbuffer = attempt(allow_float=True)
        except Exception as exc:
            raise UnsupportedError(f"the TFLite quantizer refused the SavedModel ({mode}): {first_line(exc)}") from exc
        info["float_ops"] = _float_ops(flatbuffer)
        info.setdefault("warnings", []).append(
            f"tflite[{options.variant}]: not every op has an integer kernel ({first_line(strict)[:120]}); "
            f"left in float: {', '.join(info['float_ops']) or 'none'}")
        return flatbuffer


def _keep_float(source: Any, options: ConvertOptions, info: dict[str, Any]) -> bytes:
    """int8 with the layers matching ``--keep-float`` left in float, via the QuantizationDebugger's denylist."""
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    patterns = list(options.extra.get("keep_float") or [])
    onnx_path, float_artifact = _onnx_path(options), options.upstream.get("tflite")
    if onnx_path is None or float_artifact is None:
        raise UsageError("--keep-float needs the ONNX model and the float TFLite on the conversion path")
    import onnx

    layers = onnx_layers(onnx.load(str(onnx_path), load_external_data=False))
    matched = match_layers(patterns, layers)
    empty = [p for p, hits in matched.items() if not hits]
    if empty:
        names = sorted({layer.module for layer in layers.values() if layer.module} or {l.node for l in layers.values()})
        raise UsageError(f"--keep-float '{empty[0]}' matches no ONNX node or PyTorch module; "
                         f"modules are: {', '.join(names[:12])}{' ...' if len(names) > 12 else ''}")
    wanted = {layer.node for hits in matched.values() for layer in hits}
    # Denylisted nodes are op output tensor names, the same in the float TFLite and the calibrated model. A
    # fused op belongs to its earliest node (Conv in Conv+BiasAdd+Relu; the Relu may carry the next node's scope).
    interpreter = Interpreter(model_path=str(float_artifact.path),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    tensors = interpreter.get_tensor_details()
    owners = {i: tensor_nodes(tensors[i]["name"], layers) for op in interpreter._get_ops_details()
              for i in op["outputs"] if i >= 0}
    denylist = sorted({tensors[i]["name"] for i, nodes in owners.items() if nodes and nodes[0].node in wanted})
    if not denylist:
        raise UsageError(f"--keep-float {', '.join(patterns)}: the matching nodes left no op of their own in the TFLite "
                         "model (folded away); name a layer that computes something")
    info["keep_float"] = {"patterns": patterns, "nodes": sorted(wanted), "tflite_ops": denylist}
    with _integer_savedmodel(source, options) as saved_model:
        return _debugger_quantize(saved_model, source, denylist, options)


def _debugger_quantize(saved_model: str, source: Any, denylist: list[str], options: ConvertOptions) -> bytes:
    import tensorflow as tf

    converter = serving_converter(saved_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    dataset = _dataset(options.extra.get("calibration") or [], source.meta.get("inputs", {}))
    converter.representative_dataset = dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    debug_options = tf.lite.experimental.QuantizationDebugOptions(
        denylisted_nodes=denylist, fully_quantize=bool(options.extra.get("int8_io")))
    with _quiet():
        debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=dataset,
                                                             debug_options=debug_options)
        return debugger.get_nondebug_quantized_model()


def _prequantized(options: ConvertOptions, info: dict[str, Any]) -> bytes:
    """The ONNX model's own scales: its Q/DQ pairs as TF fake-quant ops, then TFLite's integer kernels."""
    import tensorflow as tf

    if options.extra.get("calibration") and not options.extra.get("calibration_generated"):
        info.setdefault("warnings", []).append(
            f"tflite[{options.variant}]: the ONNX model is already quantized; its own scales are kept and "
            "--calibration is used only to judge the result")
    with _integer_savedmodel(None, options, ["fake_quant"]) as saved_model:
        converter = serving_converter(saved_model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if options.extra.get("int8_io"):
            converter.inference_input_type = converter.inference_output_type = tf.int8
        try:
            with _quiet():
                flatbuffer = converter.convert()
        except Exception as exc:
            raise UnsupportedError(f"the TFLite converter refused the fake-quant SavedModel: {first_line(exc)}") from exc
    info["scales"] = "from the ONNX model (QuantizeLinear/DequantizeLinear)"
    info["float_ops"] = _float_ops(flatbuffer)
    return flatbuffer


def quantize_savedmodel(source: Any, options: ConvertOptions) -> tuple[bytes, dict[str, Any]]:
    """The quantized flatbuffer for ``options.variant`` and what to record about it."""
    import tensorflow as tf

    mode = mode_of(options.variant)
    info: dict[str, Any] = {"quantize": mode}
    onnx_path = _onnx_path(options)
    if mode in ("int8", "int8x16") and is_prequantized(onnx_path):
        if mode == "int8x16" or KEEP_FLOAT in options.variant:
            raise UsageError(f"the ONNX model is already quantized (Q/DQ or QLinear ops); --quantize {mode}"
                             f"{' with --keep-float' if mode == 'int8' else ''} would re-quantize it: use --quantize int8")
        return _prequantized(options, info), info
    if mode in ("int8", "int8x16"):
        info["calibration"] = options.extra.get("calibration_source", "")
        if KEEP_FLOAT in options.variant:
            flatbuffer = _keep_float(source, options, info)
            info["float_ops"] = _float_ops(flatbuffer)
            return flatbuffer, info
        return _integer(source, mode, options, info), info
    if mode not in ("fp16", "dynamic"):
        raise UsageError(f"unknown --quantize mode '{mode}'")
    with tflite_savedmodel(source, options) as saved_model:
        converter = serving_converter(saved_model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "fp16":
            converter.target_spec.supported_types = [tf.float16]
        try:
            with _quiet():
                return converter.convert(), info
        except Exception as exc:
            raise UnsupportedError(f"the TFLite converter refused the SavedModel ({mode}): {first_line(exc)}") from exc
