"""ONNX op handler registry keyed by (domain, op_type, since_version).

A model's opset picks, for each op, the newest handler whose ``since`` is at most the op's
since_version at that opset (as ``onnx.defs.get_schema`` reports it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["OpKey", "OpRegistry", "OPS", "onnx_op"]

Handler = Callable[[Any], Any]


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

    def register(self, op_type: str, since: int, domain: str = "") -> Callable[[Handler], Handler]:
        def decorate(fn: Handler) -> Handler:
            key = OpKey(_norm_domain(domain), op_type, since)
            if key in self._handlers:
                raise ValueError(f"ONNX handler {key} is registered twice")
            self._handlers[key] = fn
            return fn

        return decorate

    def keys(self) -> list[OpKey]:
        return sorted(self._handlers)

    def resolve(self, domain: str, op_type: str, opset: int) -> Handler | None:
        """The handler for ``op_type`` in a model importing ``domain`` at version ``opset``."""
        domain = _norm_domain(domain)
        candidates = sorted(k.since for k in self._handlers if k.domain == domain and k.op_type == op_type)
        if not candidates:
            return None
        since = _schema_since(domain, op_type, opset)
        if since is None:
            return None
        usable = [s for s in candidates if s <= since]
        if not usable:
            return None
        return self._handlers[OpKey(domain, op_type, usable[-1])]


def _norm_domain(domain: str) -> str:
    return "" if domain in ("", "ai.onnx") else domain


def _schema_since(domain: str, op_type: str, opset: int) -> int | None:
    import onnx.defs

    try:
        return onnx.defs.get_schema(op_type, opset, domain).since_version
    except Exception:
        return None


OPS = OpRegistry()


def onnx_op(op_type: str, since: int, domain: str = "") -> Callable[[Handler], Handler]:
    """Register an ONNX op handler: ``@onnx_op("Conv", since=11)``."""
    return OPS.register(op_type, since, domain)
