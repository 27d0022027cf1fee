"""Build a ``tf.Module`` from an ONNX model and save it as a SavedModel that plain TensorFlow can load."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.errors import BridgeError, UnsupportedError, first_line
from bridge.names import sanitize_names
from bridge.onnx_io import onnx_input_specs
from bridge_converters.onnx_tf.dtypes import tf_dtype
from bridge_converters.onnx_tf.graph import GraphWalker, check_supported
from bridge_converters.onnx_tf.ops._common import traced_forms

__all__ = ["sanitize_names", "TfProgram", "Trainable", "build_program", "save_savedmodel", "NAME_MAP_FILE"]

NAME_MAP_FILE = "assets.extra/bridge.json"
_VARIABLE_MIN_ELEMENTS = 64  # smaller float initializers (scales, epsilons) stay constants so they can fold


@dataclass
class Trainable:
    """Which initializers become ``tf.Variable``s for ``--trainable``: ONNX name -> PyTorch name."""

    parameters: dict[str, str]  # trainable variables
    buffers: dict[str, str] = field(default_factory=dict)  # non-trainable ones (BatchNorm running statistics)


@dataclass
class TfProgram:
    """A converted model: the tf.Module, its concrete serving function and the name maps."""

    module: Any
    function: Any
    input_map: dict[str, str]
    output_map: dict[str, str]  # with expose_intermediates, every node output is here too
    warnings: list[str] = field(default_factory=list)  # what handlers approximated (GraphWalker.warnings)
    forward: Any = None  # with trainable: the concrete ``forward(*inputs, training)`` function
    variable_map: dict[str, str] = field(default_factory=dict)  # with trainable: PyTorch name -> variable name
    tf_only_forms: int = 0  # forms TF runs faster than TFLite would (ops._common.Forms); 0 with tflite_forms


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


def _trainable_variables(model: Any, spec: Trainable) -> tuple[dict[str, Any], dict[str, str]]:
    """Every parameter and buffer as a variable named after its PyTorch name by the one rule of
    ``bridge.names.sanitize_names``, in PyTorch's layout (no channels-last storage: a user maps them back)."""
    import tensorflow as tf
    from onnx import numpy_helper

    torch_names = {**spec.parameters, **spec.buffers}
    var_names = sanitize_names(list(torch_names.values()))
    variables = {}
    for init in model.graph.initializer:
        if init.name in torch_names:
            variables[init.name] = tf.Variable(numpy_helper.to_array(init), trainable=init.name in spec.parameters,
                                               name=var_names[torch_names[init.name]])
    return variables, {torch_names[k]: var_names[torch_names[k]] for k in variables}


def _becomes_variable(init: Any) -> bool:
    """Float initializers of at least ``_VARIABLE_MIN_ELEMENTS`` elements, judged from dims and type alone."""
    import math

    import onnx

    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16}
    return init.data_type in floats and math.prod(init.dims) >= _VARIABLE_MIN_ELEMENTS


def build_program(model: Any, use_variables: bool = True, expose_intermediates: bool = False,
                  shapes: dict[str, Any] | None = None, fuse: bool = True,
                  trainable: Trainable | None = None, jit_compile: bool = False,
                  base_dir: str | Path | None = None, tflite_forms: bool = False) -> TfProgram:
    """Convert ``model`` (an ``onnx.ModelProto``) into a traced tf.Module.

    ``expose_intermediates`` adds every node output to the function's outputs (for localisation);
    ``shapes`` are the value shapes ``passes.shapes`` inferred (see ``GraphWalker``); ``fuse`` first applies
    the exact fusions of ``passes/fuse.py`` to ``model`` (in place). ``trainable`` makes its parameters
    trainable variables and adds ``forward(*inputs, training)``, in which BatchNormalization and Dropout
    follow ``training`` (a bool tensor); serving is ``training=False``. A trainable program is not fused
    (BatchNormalization must stay to switch) and keeps its weights in PyTorch's layout. ``jit_compile``
    compiles the serving function with XLA. ``base_dir`` is the folder of a model loaded without its external
    data: big initializers then stream from their files into their variables one at a time (``weights.py``),
    and only the small ones that stay constants are read into the proto. ``tflite_forms`` traces the forms
    TFLite runs fastest where they differ from TF's (``ops._common.Forms``), for the tf -> tflite edge.
    """
    import numpy as np
    import tensorflow as tf

    from bridge.external_data import external_tensors
    from bridge_converters.onnx_tf.weights import initializer_array, inline_external, is_external

    check_supported(model)
    from bridge_converters.onnx_tf.passes.float16 import float16_as_float32, has_float16_arithmetic

    halved = not trainable and has_float16_arithmetic(model)
    if halved:  # a copy: the caller's model keeps its float16
        model = float16_as_float32(model)
    if fuse and not trainable:
        from bridge_converters.onnx_tf.passes.fuse import fuse as apply_fusions

        apply_fusions(model, shapes)
    initializers = {t.name for t in model.graph.initializer}
    input_names = [v.name for v in model.graph.input if v.name not in initializers]
    input_map = sanitize_names(input_names)

    module = tf.Module(name="onnx_model")
    variables: dict[str, Any] = {}
    variable_map: dict[str, str] = {}
    layouts = {} if trainable else _conv_weight_layouts(model)
    if trainable:
        variables, variable_map = _trainable_variables(model, trainable)
        module.weights = list(variables.values())
        # plain TensorFlow sees these lists on the loaded object (it has no trainable_variables property)
        module.parameters = [v for v in variables.values() if v.trainable]
        module.buffers = [v for v in variables.values() if not v.trainable]
    elif use_variables:
        var_names = sanitize_names([t.name for t in model.graph.initializer])
        for init in model.graph.initializer:
            if not _becomes_variable(init):
                continue
            value = initializer_array(init, base_dir)  # one tensor in flight, dropped once its variable holds it
            if init.name in layouts:
                value = np.transpose(value, layouts[init.name])
            variables[init.name] = tf.Variable(np.ascontiguousarray(value), trainable=False, name=var_names[init.name])
            del value
        module.weights = list(variables.values())
    # Whatever stays a constant (small tensors, subgraph and Constant-node tensors) is read into the proto.
    inline_external([t for t in external_tensors(model.graph) if is_external(t) and t.name not in variables], base_dir)

    signature = _input_signature(model, input_map)
    output_map: dict[str, str] = {}  # ONNX name -> signature name, filled while tracing
    warnings: list[str] = ["float16 arithmetic runs in float32 (as ONNX Runtime's CPU kernels run it); float16 "
                           "inputs and outputs stay float16"] if halved else []

    def run(args: Any, training: bool | None) -> dict[str, Any]:
        walker = GraphWalker(model, weights=variables, shapes=shapes, float16_as_float32=halved,
                             weight_layouts={n: p for n, p in layouts.items() if n in variables})
        walker.warnings = warnings
        if trainable:
            walker.training, walker.variables = bool(training), variables
        traced: dict[str, Any] = {}
        if expose_intermediates:
            walker.trace = traced
        outputs = walker.run(dict(zip(input_names, args)))
        outputs = {**outputs, **{k: v for k, v in traced.items() if k not in outputs}}
        # graph outputs first, so that they keep the plain names when a sanitised name clashes
        output_map.update(sanitize_names(list(outputs)))
        return {output_map[name]: tf.identity(t) for name, t in outputs.items()}

    def forward(*args: Any, **kwargs: Any) -> dict[str, Any]:
        bound = forward.__signature__.bind(*args, **kwargs)
        *inputs, training = bound.args
        return tf.cond(training, lambda: run(inputs, True), lambda: run(inputs, False))

    def serve(*args: Any) -> dict[str, Any]:
        return run(args, None)

    # named parameters, so that plain TF calls forward(x=..., training=True) as well as positionally
    forward.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in [*input_map.values(), "training"]])

    module.serve = tf.function(serve, input_signature=signature, autograph=False, jit_compile=jit_compile or None)
    forward_fn = None
    try:
        with traced_forms(tflite=tflite_forms) as forms:
            concrete = module.serve.get_concrete_function()
            if trainable:
                module.forward = tf.function(forward, autograph=False,
                                             input_signature=[*signature, tf.TensorSpec([], tf.bool, name="training")])
                forward_fn = module.forward.get_concrete_function()
    except BridgeError:
        raise
    except Exception as exc:  # outside any one node (outputs, signature): still never a traceback
        detail = first_line(exc)
        raise UnsupportedError(f"tracing the TF function failed: {type(exc).__name__}: {detail[:200]}; "
                               "please report this with the model") from exc
    # The module keeps the traced function, not the tf.function: saving a tf.function traces it once more
    # (twice the conversion time, and a second copy of every constant in the SavedModel).
    module.serve = concrete
    return TfProgram(module, concrete, input_map, dict(output_map), list(dict.fromkeys(warnings)), forward_fn,
                     variable_map, forms.tf_only)


def save_savedmodel(program: TfProgram, path: Path, extra_meta: dict[str, Any] | None = None) -> None:
    """Write the SavedModel with a ``serving_default`` signature and bridge's name map in assets.extra.

    A trainable program also gets the ``forward`` signature (its inputs plus ``training``) and, in the
    name map, ``parameters`` and ``buffers``: PyTorch name -> variable name."""
    import tensorflow as tf

    signatures = {"serving_default": program.function}
    if program.forward is not None:
        signatures["forward"] = program.forward
    tf.saved_model.save(program.module, str(path), signatures=signatures)
    meta_path = Path(path) / NAME_MAP_FILE
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"inputs": program.input_map, "outputs": program.output_map, **(extra_meta or {})}
    if program.forward is not None:
        trainable = {v.name.split(":")[0] for v in program.module.parameters}
        meta["parameters"] = {t: v for t, v in program.variable_map.items() if v in trainable}
        meta["buffers"] = {t: v for t, v in program.variable_map.items() if v not in trainable}
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n")
