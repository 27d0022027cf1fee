"""Float16 arithmetic in float32: a model that computes in float16 (Keras' ``mixed_float16``, a model halved
by onnxconverter-common) runs its arithmetic in float32, with float16 kept at the graph's inputs and outputs.

TFLite has no float16 kernels (a float16 Conv2D, MatMul or Add is a Flex op, which LiteRT cannot run), and
TensorFlow's CPU kernels accumulate float16 products in float16: a mixed-precision CNN from tf2onnx drifted
2.2e-3 from ONNX Runtime, whose CPU provider runs float16 nodes through float32 kernels (its cast-insertion
transformer). Computing in float32 and rounding once at the outputs stays within float16's resolution of it.
ONNX leaves the precision of float16 arithmetic open except in QuantizeLinear, whose division is in the
input's precision: a model with a QuantizeLinear keeps its float16 arithmetic.

Contract of :func:`float16_as_float32` (on a copy; the caller's model is unchanged):

- Every float16 initializer, ``Constant`` value, ``ConstantOfShape`` value and ``dtype`` attribute of the
  main graph and its subgraphs becomes float32, ``Cast``/``CastLike`` to float16 becomes a cast to float32,
  and float16 subgraph inputs, outputs and value_info are declared float32.
- The main graph's inputs and outputs keep their float16 declaration: the walker casts float16 feeds to
  float32 and float32 results back to a declared float16 output (``GraphWalker(float16_as_float32=True)``).
- :func:`has_float16_arithmetic` says which models it applies to: not one without float16 arithmetic, with a
  QuantizeLinear, or whose float16 weights lie in external data.
"""

from __future__ import annotations

from typing import Any

__all__ = ["float16_as_float32", "has_float16_arithmetic"]

_HALF = 10  # onnx.TensorProto.FLOAT16
_PRECISION_FIXED = {"QuantizeLinear", "DynamicQuantizeLinear"}  # divide in the input's precision (ONNX spec)


def float16_as_float32(model: Any) -> Any:
    """A copy of ``model`` with its float16 arithmetic in float32 (see the module docstring), for a model
    :func:`has_float16_arithmetic` accepts. The caller's model is left as it is: a verifier may still run it."""
    import onnx

    from bridge.onnx_graphs import walk_graphs

    model = _copy(model)
    graphs = list(walk_graphs(model.graph))
    for tensor in (t for g in graphs for t in g.initializer if t.data_type == _HALF):
        _to_single(tensor)
    for attr in (a for g in graphs for node in g.node for a in _half_attributes(node)):
        if attr.type == onnx.AttributeProto.TENSOR:
            _to_single(attr.t)
        else:
            attr.i = onnx.TensorProto.FLOAT
    for graph in graphs:
        values = [*graph.value_info, *([] if graph is model.graph else [*graph.input, *graph.output])]
        for value in values:
            if value.type.tensor_type.elem_type == _HALF:
                value.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    return model


def has_float16_arithmetic(model: Any) -> bool:
    """Whether ``model`` computes in float16 in a way :func:`float16_as_float32` rewrites: a float16
    initializer (none of them in external data), constant, cast or dtype, and no QuantizeLinear."""
    import onnx

    from bridge.onnx_graphs import walk_graphs, walk_nodes

    inits = [t for g in walk_graphs(model.graph) for t in g.initializer if t.data_type == _HALF]
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in inits):
        return False
    nodes = list(walk_nodes(model.graph))
    if any(node.op_type in _PRECISION_FIXED for node in nodes):
        return False
    return bool(inits) or any(_half_attributes(node) for node in nodes)


def _copy(model: Any) -> Any:
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


def _half_attributes(node: Any) -> list[Any]:
    """``node``'s attributes that make float16 values: a float16 tensor, or a cast or dtype to float16."""
    import onnx

    return [attr for attr in node.attribute
            if (attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == _HALF)
            or (attr.name in ("to", "dtype") and attr.type == onnx.AttributeProto.INT and attr.i == _HALF)]


def _to_single(tensor: Any) -> None:
    import numpy as np
    from onnx import numpy_helper

    tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float32), tensor.name))
