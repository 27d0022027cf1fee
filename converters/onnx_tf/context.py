"""What an op handler sees: its node's inputs as TF tensors, parsed attributes, static values, layouts.

A handler gets its inputs in the layouts its rule planned (``passes/layout.py``): ONNX axis order unless
the rule says otherwise. ``ctx.layouts[i]`` is input i's layout and ``ctx.const(i)`` its static value in
that same layout, so axis arithmetic and constants always agree with the tensors the handler holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from bridge.errors import UnsupportedError

__all__ = ["NodeContext", "OpUnsupported", "ConversionScope", "parse_attributes"]


class OpUnsupported(UnsupportedError):
    """A handler met an attribute or input combination it cannot convert."""


class ConversionScope(Protocol):
    """What a node needs from the walker converting it."""

    def static_value(self, name: str, tensor: Any, layout: Sequence[int] | None) -> Any: ...

    def record_static(self, name: str, value: Any) -> None: ...

    def partial_value(self, name: str) -> Any: ...  # passes.shape_values.Partial or None

    def warn(self, message: str) -> None: ...

    training: bool | None  # --trainable: the ``training`` switch being traced (None: the graph as it is)
    variables: dict[str, Any]  # --trainable: initializer name -> tf.Variable
    shapes: dict[str, Any]  # value name -> dims ONNX shape inference derived (ints, None where unknown)

    def run_subgraph(self, graph: Any, inputs: Sequence[Any]) -> list[Any]: ...


def parse_attributes(node: Any) -> dict[str, Any]:
    import onnx
    from onnx import numpy_helper

    attrs: dict[str, Any] = {}
    for attr in node.attribute:
        if attr.ref_attr_name:
            raise OpUnsupported(f"{node.op_type}: attribute references inside functions are not supported", {node.op_type: 1})
        if attr.type == onnx.AttributeProto.TENSOR:
            attrs[attr.name] = numpy_helper.to_array(attr.t)
        elif attr.type == onnx.AttributeProto.GRAPH:
            attrs[attr.name] = attr.g
        else:
            value = onnx.helper.get_attribute_value(attr)
            if isinstance(value, bytes):
                value = value.decode("utf-8")
            elif isinstance(value, list) and value and isinstance(value[0], bytes):
                value = [v.decode("utf-8") for v in value]
            attrs[attr.name] = value
    return attrs


class NodeContext:
    """One ONNX node during conversion.

    ``attrs`` are the node's parsed attributes (with a layout plan's rewrites); ``consts`` replace the static
    values of inputs (and supply absent ones); ``layouts[i]`` is input i's layout (None: ONNX order);
    ``channels_last`` is set when a ChannelsLast rule arranged the data input channels-last.
    """

    def __init__(self, node: Any, inputs: Sequence[Any], scope: ConversionScope, opset: int,
                 attrs: Mapping[str, Any] | None = None, layouts: Sequence[Any] | None = None,
                 consts: Mapping[int, Any] | None = None, channels_last: bool = False) -> None:
        self.node = node
        self.scope = scope
        self.opset = opset
        self.attrs = dict(parse_attributes(node) if attrs is None else attrs)
        self.inputs = list(inputs)
        self.layouts: list[Any] = list(layouts) if layouts is not None else [None] * len(self.inputs)
        self.channels_last = channels_last
        self._consts = dict(consts or {})
        if self._consts:
            import tensorflow as tf

            for i, value in self._consts.items():
                while len(self.inputs) <= i:
                    self.inputs.append(None)
                    self.layouts.append(None)
                self.inputs[i] = tf.constant(value)
                self.layouts[i] = None

    @property
    def op_type(self) -> str:
        return self.node.op_type

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def num_outputs(self) -> int:
        return len(self.node.output)

    def output_used(self, i: int) -> bool:
        return i < len(self.node.output) and self.node.output[i] != ""

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    def has_input(self, i: int) -> bool:
        return i < len(self.inputs) and self.inputs[i] is not None

    def input(self, i: int, default: Any = None) -> Any:
        return self.inputs[i] if self.has_input(i) else default

    def layout(self, i: int = 0) -> tuple[int, ...]:
        """Input i's layout as a permutation (the identity when it is in ONNX order)."""
        layout = self.layouts[i] if i < len(self.layouts) else None
        if layout is not None:
            return tuple(layout)
        rank = self.inputs[i].shape.rank if self.has_input(i) else None
        return tuple(range(rank or 0))

    def physical_axis(self, onnx_axis: int, i: int = 0) -> int:
        """Where ONNX axis ``onnx_axis`` of input i sits in the tensor the handler holds."""
        layout = self.layout(i)
        return layout.index(onnx_axis + len(layout) if onnx_axis < 0 else onnx_axis)

    def const(self, i: int) -> Any:
        """The static numpy value of input ``i`` (in the layout the handler holds it), or None when it is
        only known at run time."""
        if i in self._consts:
            return self._consts[i]
        if not self.has_input(i) or i >= len(self.node.input):
            return None
        return self.scope.static_value(self.node.input[i], self.inputs[i], self.layouts[i])

    def partial(self, i: int) -> Any:
        """What is known of input ``i``'s value entry by entry (a ``passes.shape_values.Partial``, or None):
        for the small integer vectors of shape arithmetic that are only partly static."""
        if not self.has_input(i) or i >= len(self.node.input):
            return None
        if i in self._consts:
            from bridge_converters.onnx_tf.passes.shape_values import from_array

            return from_array(self._consts[i])
        return self.scope.partial_value(self.node.input[i])

    def inferred_dims(self, i: int = 0) -> list[int | None] | None:
        """Output ``i``'s dims as ONNX shape inference derived them (ONNX order; None where it could not)."""
        return self.scope.shapes.get(self.node.output[i]) if self.output_used(i) else None

    def require_const(self, i: int, what: str) -> Any:
        value = self.const(i)
        if value is None:
            raise self.unsupported(f"{what} must be a constant")
        return value

    def warn(self, message: str) -> None:
        """Record what the conversion approximated; it reaches the report's warnings."""
        self.scope.warn(message)

    @property
    def training(self) -> bool | None:
        """For a trainable SavedModel, whether this trace is its training branch; None otherwise."""
        return getattr(self.scope, "training", None)

    def variable(self, name: str) -> Any:
        """The tf.Variable behind initializer ``name`` in a trainable SavedModel, or None."""
        return getattr(self.scope, "variables", {}).get(name)

    def unsupported(self, why: str) -> OpUnsupported:
        return OpUnsupported(f"{self.op_type} ({self.name or 'unnamed'}): {why}", {self.op_type: 1})

    def subgraph(self, attr_name: str) -> Callable[[Sequence[Any]], list[Any]]:
        """A callable that converts the graph attribute ``attr_name`` on given inputs, seeing the outer scope."""
        graph = self.attrs[attr_name]
        return lambda feeds: self.scope.run_subgraph(graph, feeds)

    def subgraph_proto(self, attr_name: str) -> Any:
        return self.attrs[attr_name]
