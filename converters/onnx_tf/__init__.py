"""Our ONNX -> TensorFlow backend: a graph walk over op handlers, saved as a SavedModel.

Importing this package registers the ``onnx -> tf`` edge and every op handler in ``ops/``.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from bridge._frameworks import import_tensorflow
from bridge.model import Artifact, ConvertOptions
from bridge.registry import converter
from bridge_converters.onnx_tf import ops as _ops  # noqa: F401  (registers the handlers)
from bridge_converters.onnx_tf.graph import GraphWalker, check_supported, find_unsupported
from bridge_converters.onnx_tf.ops.ml_features import zipmap_outputs
from bridge_converters.onnx_tf.passes.shapes import specialise_shapes
from bridge_converters.onnx_tf.registry import OPS, onnx_op
from bridge_converters.onnx_tf.savedmodel import TfProgram, Trainable, build_program, sanitize_names, save_savedmodel

__all__ = ["OPS", "onnx_op", "GraphWalker", "TfProgram", "build_program", "save_savedmodel", "sanitize_names",
           "check_supported", "find_unsupported", "onnx_to_tf"]

CONVERTER_NAME = "bridge onnx_tf"
_WEIGHT_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Mul", "BatchNormalization", "LayerNormalization",
               "InstanceNormalization", "GroupNormalization", "RMSNormalization", "LSTM", "GRU", "RNN", "Gather",
               "PRelu", "Einsum"}


def supported_ops() -> list[tuple[str, str, int]]:
    return [(k.domain, k.op_type, k.since) for k in OPS.keys()]


@converter(source="onnx", target="tf", name=CONVERTER_NAME, supported_ops=supported_ops)
def onnx_to_tf(source: Any, out_path: Path, options: ConvertOptions) -> Artifact:
    """Convert the ONNX file at ``source.path`` into a SavedModel directory at ``out_path``."""
    from bridge.onnx_io import load_onnx_checked
    from bridge.verify.harness import KEEP_RUNNER_BYTES

    import_tensorflow()
    path = Path(source.path)
    warnings: list[str] = []
    # Without external data: big weights stream from their files into their variables (weights.py).
    model = load_onnx_checked(path, load_external_data=False, warnings=warnings)
    trainable = None
    extra: dict[str, Any] = {"jit_compile": options.jit_compile}
    if options.extra.get("trainable"):
        model, trainable = training_view(source, model)
        # the graph it was built from (beside the ONNX file), for naming what an op without a gradient cuts off
        extra["trainable"] = True
        extra["training_view"] = next((Path(c).name for c in getattr(source, "companions", [])
                                       if str(c).endswith(".training.onnx")), path.name)
    if options.extra.get("passes"):  # e.g. for integer TFLite: see bridge_converters.onnx_tf.passes
        from bridge_converters.onnx_tf.passes import run_passes

        run_passes(model, options.extra["passes"])
    # Every input dim not marked dynamic is fixed to the shapes being converted (passes/shapes.py).
    spec = specialise_shapes(model, options.feeds, options.dynamic)
    program = build_program(spec.model, expose_intermediates=bool(options.extra.get("expose_intermediates")),
                            shapes=spec.value_shapes, trainable=trainable, jit_compile=options.jit_compile,
                            base_dir=path.parent, tflite_forms=options.extra.get("forms") == "tflite")
    extra["input_dims"] = [i.to_json() for i in spec.inputs]
    if program.tf_only_forms:  # the tf -> tflite edge then rebuilds from the ONNX model in TFLite's forms
        extra["tf_only_forms"] = program.tf_only_forms
    # ZipMap outputs (sequences of maps in ONNX) are dense probability tensors here: record their labels.
    zipmaps = {program.output_map[name]: labels for name, labels in zipmap_outputs(spec.model).items()}
    if zipmaps:
        extra["zipmap_labels"] = zipmaps
    save_savedmodel(program, out_path, {"converter": CONVERTER_NAME, **extra})
    input_map, output_map, notes = program.input_map, program.output_map, warnings + spec.warnings + program.warnings
    del program, model, spec
    if Artifact(format="onnx", path=path).size_bytes >= KEEP_RUNNER_BYTES:
        gc.collect()  # big weights: the variables (a full copy) go before verification loads a runtime
    return Artifact(
        format="tf",
        path=out_path,
        converter=CONVERTER_NAME,
        input_names=list(input_map),
        output_names=list(output_map),
        meta={"inputs": input_map, "outputs": output_map, "warnings": notes, **extra},
    )


def training_view(source: Any, model: Any) -> tuple[Any, Trainable]:
    """The graph a trainable SavedModel is built from and which initializers become variables.

    From PyTorch, that is the training-mode export written beside the ONNX file (see
    ``bridge_converters.torch_onnx.export_training_view``), whose metadata names every parameter and buffer.
    An ONNX source has only its own graph: every float initializer is a parameter, except BatchNorm's
    running statistics, which are buffers; Dropout that the exporter removed cannot come back."""
    import json

    from bridge.onnx_io import load_onnx_checked

    view = next((Path(c) for c in getattr(source, "companions", []) if str(c).endswith(".training.onnx")), None)
    if view is not None and view.is_file():
        model = load_onnx_checked(view)
        props = {p.key: p.value for p in model.metadata_props}
        return model, Trainable(json.loads(props.get("bridge.parameters", "{}")), json.loads(props.get("bridge.buffers", "{}")))
    stats = {n.input[i] for n in model.graph.node if n.op_type == "BatchNormalization" for i in (3, 4) if len(n.input) > i}
    # only what layers read as data: a float initializer read as Resize scales or a shape must stay a constant
    read = {name for n in model.graph.node if n.op_type in _WEIGHT_OPS for name in n.input}
    floats = [t.name for t in model.graph.initializer if t.data_type in (1, 10, 11, 16) and t.name in read]
    return model, Trainable({n: n for n in floats if n not in stats}, {n: n for n in floats if n in stats})
