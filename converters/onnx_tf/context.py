"""What an op handler sees: its node's inputs as TF tensors, parsed attributes, static values."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bridge.errors import UnsupportedError

if TYPE_CHECKING:
    from bridge_converters.onnx_tf.graph import GraphWalker

__all__ = ["NodeContext", "OpUnsupported"]


class OpUnsupported(UnsupportedError):
    """A handler met an attribute or input combination it cannot convert."""


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
    """One ONNX node during conversion."""

    def __init__(self, node: Any, inputs: Sequence[Any], walker: GraphWalker, opset: int) -> None:
        self.node = node
        self.inputs = list(inputs)
        self.walker = walker
        self.opset = opset
        self.attrs = parse_attributes(node)

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

    def const(self, i: int) -> Any:
        """The static numpy value of input ``i``, or None when it is only known at run time."""
        if not self.has_input(i):
            return None
        return self.walker.static_value(self.node.input[i], self.inputs[i])

    def require_const(self, i: int, what: str) -> Any:
        value = self.const(i)
        if value is None:
            raise self.unsupported(f"{what} must be a constant")
        return value

    def unsupported(self, why: str) -> OpUnsupported:
        return OpUnsupported(f"{self.op_type} ({self.name or 'unnamed'}): {why}", {self.op_type: 1})

    def subgraph(self, attr_name: str) -> Callable[[Sequence[Any]], list[Any]]:
        """A callable that converts the graph attribute ``attr_name`` on given inputs, seeing the outer scope."""
        graph = self.attrs[attr_name]
        return lambda feeds: self.walker.run_subgraph(graph, feeds)

    def subgraph_proto(self, attr_name: str) -> Any:
        return self.attrs[attr_name]
