"""ONNX op handler registry keyed by (domain, op_type, since_version).

A model's opset picks, for each op, the newest handler whose ``since`` is at most the op's
since_version at that opset (as ``onnx.defs.get_schema`` reports it). Each handler may declare a layout
rule (``passes/layout.py``); without one it works in ONNX axis order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["OpKey", "OpRegistry", "OPS", "onnx_op"]

Handler = Callable[[Any], Any]
LayoutRule = Callable[[Any], Any]


@dataclass(frozen=True, order=True)
class OpKey:
    domain: str
    op_type: str
    since: int

    def __str__(self) -> str:
        return f"{self.domain + '::' if self.domain else ''}{self.op_type}-{self.since}"


class OpRegistry:
    def __init__(self) -> None:
        self._handlers: dict[OpKey, Handler] = {}
        self._layouts: dict[OpKey, LayoutRule] = {}
        self._resolved: dict[tuple[str, str, int], OpKey | None] = {}  # resolution is asked once per node

    def register(self, op_type: str, since: int, domain: str = "",
                 layout: LayoutRule | None = None) -> Callable[[Handler], Handler]:
        def decorate(fn: Handler) -> Handler:
            key = OpKey(_norm_domain(domain), op_type, since)
            if key in self._handlers:
                raise ValueError(f"ONNX handler {key} is registered twice")
            self._handlers[key] = fn
            self._resolved.clear()
            if layout is not None:
                self._layouts[key] = layout
            return fn

        return decorate

    def keys(self) -> list[OpKey]:
        return sorted(self._handlers)

    def resolve(self, domain: str, op_type: str, opset: int) -> Handler | None:
        """The handler for ``op_type`` in a model importing ``domain`` at version ``opset``."""
        key = self.resolve_key(domain, op_type, opset)
        return None if key is None else self._handlers[key]

    def handler(self, key: OpKey) -> Handler:
        return self._handlers[key]

    def layout_rule(self, key: OpKey) -> LayoutRule | None:
        """The layout rule the handler at ``key`` declared (None: ONNX axis order)."""
        return self._layouts.get(key)

    def resolve_key(self, domain: str, op_type: str, opset: int) -> OpKey | None:
        domain = _norm_domain(domain)
        cache_key = (domain, op_type, opset)
        if cache_key not in self._resolved:
            self._resolved[cache_key] = self._resolve_key(domain, op_type, opset)
        return self._resolved[cache_key]

    def _resolve_key(self, domain: str, op_type: str, opset: int) -> OpKey | None:
        candidates = sorted(k.since for k in self._handlers if k.domain == domain and k.op_type == op_type)
        if not candidates:
            return None
        since = _schema_since(domain, op_type, opset)
        if since is None:
            return None
        usable = [s for s in candidates if s <= since]
        if not usable:
            return None
        return OpKey(domain, op_type, usable[-1])


def _norm_domain(domain: str) -> str:
    return "" if domain in ("", "ai.onnx") else domain


def _schema_since(domain: str, op_type: str, opset: int) -> int | None:
    import onnx.defs

    try:
        return onnx.defs.get_schema(op_type, opset, domain).since_version
    except Exception:
        return None


OPS = OpRegistry()


def onnx_op(op_type: str, since: int, domain: str = "", layout: LayoutRule | None = None) -> Callable[[Handler], Handler]:
    """Register an ONNX op handler: ``@onnx_op("Conv", since=11, layout=CONV)``."""
    return OPS.register(op_type, since, domain, layout)
