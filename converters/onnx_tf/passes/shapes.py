"""Shape specialisation: bind the graph inputs' dims to the shapes being converted, then infer every shape.

Contract of :func:`specialise_shapes`:

- Pre: ``model`` passed ``bridge.onnx_io.load_onnx_checked`` (valid; contradicting hints already dropped).
  It is changed in place (its graph inputs and value_info; weights are never copied) and returned.
- Binding: every graph input named in ``feeds`` gets the feed's dims, except the axes listed for it in
  ``dynamic``, which stay (or become) symbolic dims. A feed whose rank, or whose size on an axis the model
  fixes, differs from the model's declaration is a UsageError (ONNX Runtime would refuse it too). Inputs
  without a feed keep their declaration.
- Inference: every other ``value_info`` and declared output shape is removed (hints), and ONNX shape
  inference with data propagation runs from the bound inputs through the main graph and every If, Loop and
  Scan body. Its result is :attr:`ShapeSpecialisation.value_shapes`: value name -> dims (ints, or None for
  a dim it could not derive), for the walker to give tensors whose rank or dims TensorFlow lost (tf.cond
  merges, relaxed loop variables) their static shape back (:func:`refine_static_shape`).
- Post: the returned model's graph inputs carry the bound dims, so the SavedModel signature built from it
  has every dim fixed that is not dynamic; :attr:`ShapeSpecialisation.inputs` says, per input, which dims are
  fixed, which of those the feeds fixed (they were symbolic in the model), and which stay dynamic.
- Inference that fails (an op without a schema, a model too large to serialise) never fails the pass: the
  bound model is returned with the shapes that could be derived, and a warning says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.errors import UsageError, first_line
from bridge.onnx_graphs import walk_graphs
from bridge.onnx_validate import INFERENCE_TIMEOUT_S, run_isolated

__all__ = ["InputDims", "ShapeSpecialisation", "specialise_shapes", "refine_static_shape", "declared_dims"]

Dim = int | str | None
_SKELETON_BYTES = 1 << 16  # initializers bigger than this lose their data in the copy inference reads


@dataclass
class InputDims:
    """One graph input after binding: ``shape`` holds ints (fixed) and labels (dynamic), None = unknown."""

    name: str
    shape: list[Dim] | None
    specialised: list[int] = field(default_factory=list)  # axes symbolic in the model, fixed by the feeds
    dynamic: dict[int, str] = field(default_factory=dict)

    @property
    def fixed(self) -> list[int]:
        return [] if self.shape is None else [i for i, d in enumerate(self.shape) if isinstance(d, int)]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": self.shape, "fixed_axes": self.fixed,
                "specialised_axes": self.specialised, "dynamic_axes": {str(k): v for k, v in self.dynamic.items()}}


@dataclass
class ShapeSpecialisation:
    model: Any
    inputs: list[InputDims]
    value_shapes: dict[str, list[int | None] | None]
    warnings: list[str] = field(default_factory=list)
    changed: bool = False  # whether any input dim was bound


def declared_dims(value: Any) -> list[Dim] | None:
    """A value's declared dims: ints, dim_param labels, None where neither; None without a tensor shape."""
    t = value.type.tensor_type
    if not value.type.HasField("tensor_type") or not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]


def _bind_input(value: Any, feed_shape: Sequence[int] | None, dynamic: Mapping[int, str]) -> InputDims:
    """Set ``value``'s dims in place from ``feed_shape`` (axes in ``dynamic`` stay symbolic)."""
    declared = declared_dims(value)
    name = value.name
    if feed_shape is None or not value.type.HasField("tensor_type"):
        return InputDims(name, declared, dynamic={i: str(d) for i, d in enumerate(declared or []) if not isinstance(d, int)})
    feed_shape = [int(d) for d in feed_shape]
    if declared is not None and len(declared) != len(feed_shape):
        raise UsageError(f"input '{name}' has rank {len(declared)} in the model ({_text(declared)}); the inputs "
                         f"given have shape {_text(feed_shape)}; pass --input-shape {name}:... of that rank")
    result = InputDims(name, [])
    shape = value.type.tensor_type.shape
    if declared is None:
        for _ in feed_shape:
            shape.dim.add()
        declared = [None] * len(feed_shape)
    for axis, (want, got) in enumerate(zip(declared, feed_shape)):
        dim = shape.dim[axis]
        if isinstance(want, int):
            if want != got:
                raise UsageError(f"input '{name}' has size {want} on axis {axis} in the model, but the inputs given "
                                 f"have {got} ({_text(feed_shape)}); give inputs of the model's shape")
            result.shape.append(want)  # type: ignore[union-attr]
            continue
        if axis in dynamic:
            label = want if isinstance(want, str) else dynamic[axis]
            dim.Clear()
            dim.dim_param = label
            result.shape.append(label)  # type: ignore[union-attr]
            result.dynamic[axis] = label
            continue
        dim.Clear()
        dim.dim_value = got
        result.shape.append(got)  # type: ignore[union-attr]
        result.specialised.append(axis)
    return result


def _text(dims: Sequence[Dim]) -> str:
    return "x".join("?" if d is None else str(d) for d in dims) or "scalar"


def _skeleton(model: Any) -> Any:
    """A copy for inference: big initializers keep their dims and type but not their bytes (inference reads
    values only of small shape-like tensors), so a multi-GB model is never copied whole."""
    import onnx

    skeleton = onnx.ModelProto()
    _copy_light(model, skeleton)
    for graph in walk_graphs(skeleton.graph):
        del graph.value_info[:]
        for value in graph.output:
            if value.type.HasField("tensor_type"):
                value.type.tensor_type.ClearField("shape")
        for init in graph.initializer:
            if len(init.raw_data) > _SKELETON_BYTES:
                init.ClearField("raw_data")
            elif len(init.float_data) > _SKELETON_BYTES // 4:
                init.ClearField("float_data")
    return skeleton


def _copy_light(model: Any, target: Any) -> None:
    """Copy ``model`` into ``target`` without the bytes of large main-graph initializers."""
    target.ir_version = model.ir_version
    target.opset_import.extend(model.opset_import)
    target.functions.extend(model.functions)
    graph = model.graph
    target.graph.name = graph.name
    target.graph.node.extend(graph.node)
    target.graph.input.extend(graph.input)
    target.graph.output.extend(graph.output)
    for init in graph.initializer:
        light = target.graph.initializer.add()
        if len(init.raw_data) > _SKELETON_BYTES or init.data_location == 1:
            light.name, light.data_type = init.name, init.data_type
            light.dims.extend(init.dims)
        else:
            light.CopyFrom(init)


def specialise_shapes(model: Any, feeds: Mapping[str, Any] | None = None,
                      dynamic: Mapping[str, Mapping[int, str]] | None = None) -> ShapeSpecialisation:
    """Bind ``model``'s graph inputs to ``feeds`` (name -> array or shape) and infer every shape; see the
    module docstring for the contract."""
    feeds = feeds or {}
    dynamic = dynamic or {}
    bound = model  # bound in place: weights are never copied (a model may hold gigabytes of them)
    initializers = {t.name for t in bound.graph.initializer}
    inputs = []
    for value in bound.graph.input:
        if value.name in initializers:
            continue
        feed = feeds.get(value.name)
        shape = None if feed is None else tuple(getattr(feed, "shape", feed))
        inputs.append(_bind_input(value, shape, dynamic.get(value.name, {})))
    changed = any(i.specialised for i in inputs)
    warnings: list[str] = []
    for graph in walk_graphs(bound.graph):
        del graph.value_info[:]
    # ONNX's C++ inference can abort the process on concrete dims no check has seen yet: a forked child runs it.
    text = run_isolated(_infer, _skeleton(bound), INFERENCE_TIMEOUT_S) or ""
    answer = json.loads(text) if text.startswith("{") else {"error": text or "no answer"}
    if "error" in answer or "shapes" not in answer:
        # inference is an aid: the walk still works from TensorFlow's own shapes
        warnings.append(f"ONNX shape inference failed on the specialised model ({answer.get('error', 'no answer')}); "
                        "converting with TensorFlow's own shape propagation only")
    value_shapes = answer.get("shapes", {})
    bound_dims = [f"{i.name}[{a}]={i.shape[a]}" for i in inputs for a in i.specialised]  # type: ignore[index]
    if bound_dims:
        warnings.append(f"fixed {len(bound_dims)} symbolic input dim(s) to the shapes being verified "
                        f"({', '.join(bound_dims[:6])}{', ...' if len(bound_dims) > 6 else ''}); "
                        "mark an axis --dynamic NAME:AXIS to keep it dynamic")
    return ShapeSpecialisation(bound, inputs, value_shapes, warnings, changed)


def _infer(skeleton: Any) -> str:
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(skeleton, check_type=False, strict_mode=False, data_prop=True)
    except Exception as exc:
        return json.dumps({"error": first_line(exc)})
    shapes: dict[str, list[int | None]] = {}
    for graph in walk_graphs(inferred.graph):
        for value in [*graph.value_info, *graph.output]:
            declared = declared_dims(value)
            if declared is not None:
                shapes[value.name] = [d if isinstance(d, int) else None for d in declared]
    return json.dumps({"shapes": shapes})


def refine_static_shape(tensor: Any, dims: list[int | None] | None) -> None:
    """Give a graph tensor the static shape ONNX inference derived, where TensorFlow knows less and the two
    agree; anything else leaves the tensor as it is (TensorFlow's own shape wins)."""
    if dims is None:
        return
    import tensorflow as tf

    if not isinstance(tensor, tf.Tensor) or tf.executing_eagerly() or not hasattr(tensor, "graph"):
        return
    if tensor.shape.is_fully_defined():
        return
    try:
        tensor.set_shape(tensor.shape.merge_with(tf.TensorShape(dims)))
    except (ValueError, TypeError):
        return
