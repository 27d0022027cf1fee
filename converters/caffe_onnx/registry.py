"""Caffe layer handlers: ``@caffe_layer("Convolution")`` registers a function ``(ctx) -> None`` that emits
the ONNX nodes of one layer. One layer family per module in ``layers/``; a duplicate type is an error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["LayerHandler", "LayerRegistry", "LAYERS", "caffe_layer"]


@dataclass(frozen=True)
class LayerHandler:
    type: str
    fn: Callable[[Any], None]
    module: str


class LayerRegistry:
    def __init__(self) -> None:
        self._handlers: dict[str, LayerHandler] = {}

    def register(self, *types: str) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
        def decorate(fn: Callable[[Any], None]) -> Callable[[Any], None]:
            for layer_type in types:
                if layer_type in self._handlers:
                    raise ValueError(f"Caffe layer {layer_type!r} is already registered "
                                     f"({self._handlers[layer_type].module})")
                self._handlers[layer_type] = LayerHandler(layer_type, fn, fn.__module__)
            return fn

        return decorate

    def get(self, layer_type: str) -> LayerHandler | None:
        return self._handlers.get(layer_type)

    def types(self) -> list[str]:
        return sorted(self._handlers)


LAYERS = LayerRegistry()


def caffe_layer(*types: str) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register a handler for one or more Caffe layer types on the global registry."""
    return LAYERS.register(*types)
