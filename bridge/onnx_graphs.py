"""Walking an ONNX graph together with every subgraph nested in its nodes (If, Loop, Scan bodies)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["walk_graphs", "walk_nodes"]


def walk_graphs(graph: Any) -> Iterator[Any]:
    """``graph`` first, then each nested subgraph, depth first."""
    import onnx

    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from walk_graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from walk_graphs(sub)


def walk_nodes(graph: Any) -> Iterator[Any]:
    """Every node of ``graph`` and of its subgraphs."""
    for g in walk_graphs(graph):
        yield from g.node
