"""Converter registry: formats are nodes, converters are edges.

Built-in and third-party converters alike are declared under the entry-point group
``bridge.converters`` and imported on first use, so this module never names ``converters``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol

from bridge.errors import UsageError
from bridge.formats import FORMATS

__all__ = ["Converter", "ConverterRegistry", "REGISTRY", "converter", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "bridge.converters"


class ConvertFn(Protocol):
    def __call__(self, model: Any, out_path: Any, options: Any) -> Any: ...


@dataclass(frozen=True)
class Converter:
    source: str
    target: str
    name: str
    fn: Callable[..., Any]
    # Optional: lists the (domain, op_type, since_version) the edge supports, for ``bridge ops``.
    supported_ops: Callable[[], list[tuple[str, str, int]]] | None = None
    # Optional: describes a file of the edge's source format without converting it (inputs, outputs, layer
    # histogram, parameter count), for loading that format as a SOURCE and for ``bridge inspect``.
    describe: Callable[[Any], dict[str, Any]] | None = None


class ConverterRegistry:
    """Edges between formats. Registering the same (source, target) twice is an error."""

    def __init__(self, entry_point_group: str | None = ENTRY_POINT_GROUP) -> None:
        self._edges: dict[tuple[str, str], Converter] = {}
        self._group = entry_point_group
        self._loaded = entry_point_group is None

    def register(
        self, source: str, target: str, name: str = "", supported_ops: Callable[[], list[tuple[str, str, int]]] | None = None,
        describe: Callable[[Any], dict[str, Any]] | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            key = (source, target)
            if key in self._edges:
                raise ValueError(f"converter {source} -> {target} is already registered ({self._edges[key].name})")
            self._edges[key] = Converter(source, target, name or fn.__qualname__, fn, supported_ops, describe)
            return fn

        return decorate

    def load_plugins(self) -> None:
        """Import every module declared under the entry-point group (once)."""
        if self._loaded:
            return
        self._loaded = True
        for ep in metadata.entry_points(group=self._group):
            ep.load()

    def edges(self) -> list[Converter]:
        self.load_plugins()
        return sorted(self._edges.values(), key=lambda c: (c.source, c.target))

    def get(self, source: str, target: str) -> Converter:
        self.load_plugins()
        return self._edges[(source, target)]

    def describer(self, source: str) -> Callable[[Any], dict[str, Any]] | None:
        """The ``describe`` callable an edge out of ``source`` offers, if any."""
        self.load_plugins()
        return next((c.describe for c in self.edges() if c.source == source and c.describe is not None), None)

    def path(self, source: str, target: str) -> list[Converter]:
        """Shortest chain of converters from ``source`` to ``target`` (breadth-first)."""
        self.load_plugins()
        if source == target:
            return []
        prev: dict[str, Converter] = {}
        queue = deque([source])
        seen = {source}
        while queue:
            node = queue.popleft()
            for (src, dst), conv in sorted(self._edges.items()):
                if src != node or dst in seen:
                    continue
                seen.add(dst)
                prev[dst] = conv
                if dst == target:
                    chain = [conv]
                    while chain[0].source != source:
                        chain.insert(0, prev[chain[0].source])
                    return chain
                queue.append(dst)
        if target not in FORMATS and all(target not in key for key in self._edges):
            raise UsageError(f"unknown format '{target}'; run 'bridge formats' to list them")
        raise UsageError(f"no conversion path from {source} to {target}; run 'bridge formats' to see the edges")


REGISTRY = ConverterRegistry()


def converter(
    source: str, target: str, name: str = "", supported_ops: Callable[[], list[tuple[str, str, int]]] | None = None,
    describe: Callable[[Any], dict[str, Any]] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a converter edge on the global registry: ``@converter(source="onnx", target="tf")``."""
    return REGISTRY.register(source, target, name, supported_ops, describe)
