"""Our ONNX -> TensorFlow backend: a graph walk over op handlers, saved as a SavedModel.

Importing this package registers the ``onnx -> tf`` edge and every op handler in ``ops/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge._frameworks import import_tensorflow
from bridge.model import Artifact, ConvertOptions
from bridge.registry import converter
from bridge_converters.onnx_tf import ops as _ops  # noqa: F401  (registers the handlers)
from bridge_converters.onnx_tf.graph import GraphWalker, check_supported, find_unsupported
from bridge_converters.onnx_tf.ops.ml_features import zipmap_outputs
from bridge_converters.onnx_tf.registry import OPS, onnx_op
from bridge_converters.onnx_tf.savedmodel import TfProgram, build_program, sanitize_names, save_savedmodel

__all__ = ["OPS", "onnx_op", "GraphWalker", "TfProgram", "build_program", "save_savedmodel", "sanitize_names",
           "check_supported", "find_unsupported", "onnx_to_tf"]

CONVERTER_NAME = "bridge onnx_tf"


def supported_ops() -> list[tuple[str, str, int]]:
    return [(k.domain, k.op_type, k.since) for k in OPS.keys()]


@converter(source="onnx", target="tf", name=CONVERTER_NAME, supported_ops=supported_ops)
def onnx_to_tf(source: Any, out_path: Path, options: ConvertOptions) -> Artifact:
    """Convert the ONNX file at ``source.path`` into a SavedModel directory at ``out_path``."""
    from bridge.onnx_io import load_onnx_checked

    import_tensorflow()
    model = load_onnx_checked(Path(source.path))
    if options.extra.get("passes"):  # e.g. for integer TFLite: see bridge_converters.onnx_tf.passes
        from bridge_converters.onnx_tf.passes import run_passes

        run_passes(model, options.extra["passes"])
    program = build_program(model, expose_intermediates=bool(options.extra.get("expose_intermediates")))
    # ZipMap outputs (sequences of maps in ONNX) are dense probability tensors here: record their labels.
    zipmaps = {program.output_map[name]: labels for name, labels in zipmap_outputs(model).items()}
    extra = {"zipmap_labels": zipmaps} if zipmaps else {}
    save_savedmodel(program, out_path, {"converter": CONVERTER_NAME, **extra})
    return Artifact(
        format="tf",
        path=out_path,
        converter=CONVERTER_NAME,
        input_names=list(program.input_map),
        output_names=list(program.output_map),
        meta={"inputs": program.input_map, "outputs": program.output_map, **extra},
    )
