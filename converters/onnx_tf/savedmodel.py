"""Build a ``tf.Module`` from an ONNX model and save it as a SavedModel that plain TensorFlow can load."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.errors import BridgeError, UnsupportedError, first_line
from bridge.names import sanitize_names
from bridge.onnx_io import onnx_input_specs
from bridge_converters.onnx_tf.dtypes import tf_dtype
from bridge_converters.onnx_tf.graph import GraphWalker, check_supported

__all__ = ["sanitize_names", "TfProgram", "build_program", "save_savedmodel", "NAME_MAP_FILE"]

NAME_MAP_FILE = "assets.extra/bridge.json"
_VARIABLE_MIN_ELEMENTS = 64  # smaller float initializers (scales, epsilons) stay constants so they can fold


@dataclass
class TfProgram:
    """A converted model: the tf.Module, its concrete serving function and the name maps."""

    module: Any
    function: Any
    input_map: dict[str, str]
    output_map: dict[str, str]  # with expose_intermediates, every node output is here too


def _input_signature(model: Any, input_map: dict[str, str]) -> list[Any]:
    import tensorflow as tf

    elem_types = {v.name: v.type.tensor_type.elem_type for v in model.graph.input}
    return [
        tf.TensorSpec(None if spec.shape is None else [d if isinstance(d, int) else None for d in spec.shape],
                      tf_dtype(elem_types[spec.name]), name=input_map[spec.name])
        for spec in onnx_input_specs(model)
    ]


_KERNEL_INPUTS = {("Conv", 1), ("ConvTranspose", 1)}


def _conv_weight_layouts(model: Any) -> dict[str, tuple[int, ...]]:
    """Initializers read only as convolution weights, with their layout in TF's filter order (k..., C/g, M):
    stored so, the handlers' layout plan asks for exactly that and no transpose is left in the graph."""
    from bridge_converters.onnx_tf.passes.layout import kernel_layout

    uses: dict[str, set[tuple[str, int]]] = {}
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            uses.setdefault(name, set()).add((node.op_type if node.domain in ("", "ai.onnx") else "", i))
    return {init.name: kernel_layout(len(init.dims)) for init in model.graph.initializer
            if uses.get(init.name, set()) and uses[init.name] <= _KERNEL_INPUTS and len(init.dims) >= 3}


def build_program(model: Any, use_variables: bool = True, expose_intermediates: bool = False,
                  fuse: bool = True) -> TfProgram:
    """Convert ``model`` (an ``onnx.ModelProto``) into a traced tf.Module.

    ``expose_intermediates`` adds every node output to the function's outputs (for localisation). ``fuse``
    first applies the exact fusions of ``passes/fuse.py`` to ``model`` (in place).
    """
    import numpy as np
    import tensorflow as tf
    from onnx import numpy_helper

    check_supported(model)
    if fuse:
        from bridge_converters.onnx_tf.passes.fuse import fuse as apply_fusions

        apply_fusions(model)
    initializers = {t.name for t in model.graph.initializer}
    input_names = [v.name for v in model.graph.input if v.name not in initializers]
    input_map = sanitize_names(input_names)

    module = tf.Module(name="onnx_model")
    variables: dict[str, Any] = {}
    layouts = _conv_weight_layouts(model)
    if use_variables:
        var_names = sanitize_names([t.name for t in model.graph.initializer])
        for init in model.graph.initializer:
            value = numpy_helper.to_array(init)
            if value.dtype.kind == "f" and value.size >= _VARIABLE_MIN_ELEMENTS:
                if init.name in layouts:
                    value = np.transpose(value, layouts[init.name])
                variables[init.name] = tf.Variable(np.ascontiguousarray(value), trainable=False, name=var_names[init.name])
        module.weights = list(variables.values())

    signature = _input_signature(model, input_map)
    output_map: dict[str, str] = {}  # ONNX name -> signature name, filled while tracing

    def serve(*args: Any) -> dict[str, Any]:
        walker = GraphWalker(model, weights=variables,
                             weight_layouts={n: p for n, p in layouts.items() if n in variables})
        traced: dict[str, Any] = {}
        if expose_intermediates:
            walker.trace = traced
        outputs = walker.run(dict(zip(input_names, args)))
        outputs = {**outputs, **{k: v for k, v in traced.items() if k not in outputs}}
        # graph outputs first, so that they keep the plain names when a sanitised name clashes
        output_map.update(sanitize_names(list(outputs)))
        return {output_map[name]: tf.identity(t) for name, t in outputs.items()}

    module.serve = tf.function(serve, input_signature=signature, autograph=False)
    try:
        concrete = module.serve.get_concrete_function()
    except BridgeError:
        raise
    except Exception as exc:  # outside any one node (outputs, signature): still never a traceback
        detail = first_line(exc)
        raise UnsupportedError(f"tracing the TF function failed: {type(exc).__name__}: {detail[:200]}; "
                               "please report this with the model") from exc
    return TfProgram(module, concrete, input_map, dict(output_map))


def save_savedmodel(program: TfProgram, path: Path, extra_meta: dict[str, Any] | None = None) -> None:
    """Write the SavedModel with a ``serving_default`` signature and bridge's name map in assets.extra."""
    import tensorflow as tf

    tf.saved_model.save(program.module, str(path), signatures={"serving_default": program.function})
    meta_path = Path(path) / NAME_MAP_FILE
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"inputs": program.input_map, "outputs": program.output_map, **(extra_meta or {})}
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n")
