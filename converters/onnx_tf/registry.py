"""ONNX op handler registry keyed by (domain, op_type, since_version).

A model's opset picks, for each op, the newest handler whose ``since`` is at most the op's
since_version at that opset (as ``onnx.defs.get_schema`` reports it). Each handler may declare a layout
rule (``passes/layout.py``); without one it works in ONNX axis order.

Some ops have no ONNX schema at all: those of domains onnx does not define (``com.microsoft``, ONNX
Runtime's contrib ops) and the few that ONNX Runtime defines in the default domain itself (its
``LayerNormalization``-1 and ``SimplifiedLayerNormalization``, which its optimisers write into models of
any opset). Their handlers are registered with ``runtime_schema=True`` (implied for a domain onnx does not
know) and resolve by version alone: the newest ``since`` at most the imported opset.
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
        self._runtime_schema: set[OpKey] = set()  # keys resolved by version alone (no ONNX schema)
        self._resolved: dict[tuple[str, str, int], OpKey | None] = {}  # resolution is asked once per node

    def register(self, op_type: str, since: int, domain: str = "", layout: LayoutRule | None = None,
                 runtime_schema: bool = False) -> Callable[[Handler], Handler]:
        def decorate(fn: Handler) -> Handler:
            key = OpKey(_norm_domain(domain), op_type, since)
            if key in self._handlers:
                raise ValueError(f"ONNX handler {key} is registered twice")
            self._handlers[key] = fn
            self._resolved.clear()
            if layout is not None:
                self._layouts[key] = layout
            if runtime_schema or not _onnx_knows_domain(key.domain):
                self._runtime_schema.add(key)
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
        usable = [s for s in candidates if since is not None and s <= since
                  and OpKey(domain, op_type, s) not in self._runtime_schema]
        if not usable:  # no ONNX schema at this opset: a runtime-defined op, if one is registered
            usable = [s for s in candidates if s <= opset and OpKey(domain, op_type, s) in self._runtime_schema]
        if not usable:
            return None
        return OpKey(domain, op_type, usable[-1])


def _norm_domain(domain: str) -> str:
    return "" if domain in ("", "ai.onnx") else domain


def _onnx_knows_domain(domain: str) -> bool:
    import onnx.defs

    return domain in onnx.defs.C.schema_version_map()


def _schema_since(domain: str, op_type: str, opset: int) -> int | None:
    import onnx.defs

    try:
        return onnx.defs.get_schema(op_type, opset, domain).since_version
    except Exception:
        return None


OPS = OpRegistry()


def onnx_op(op_type: str, since: int, domain: str = "", layout: LayoutRule | None = None,
            runtime_schema: bool = False) -> Callable[[Handler], Handler]:
    """Register an ONNX op handler: ``@onnx_op("Conv", since=11, layout=CONV)``. ``layout`` is its layout rule;
    ``runtime_schema`` marks an op whose schema ONNX Runtime defines instead of onnx (see above)."""
    return OPS.register(op_type, since, domain, layout, runtime_schema)
