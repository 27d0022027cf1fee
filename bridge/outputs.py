"""Flatten a model's structured outputs into an ordered list of named tensors.

Tensors, tuples/lists, dicts (including ``transformers``' ``ModelOutput``) and dataclasses are
walked in order; names come from dict keys and dataclass fields, positions otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["flatten_outputs"]


def _is_tensor(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, (dict, list, tuple))


def flatten_outputs(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Return ``[(name, tensor), ...]``; a lone tensor is named ``output``. ``None`` entries are dropped."""
    flat: list[tuple[str, Any]] = []
    _walk(value, prefix, flat)
    if len(flat) == 1 and not prefix and flat[0][0] == "output_0":
        flat = [("output", flat[0][1])]
    return flat


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _walk(value: Any, prefix: str, flat: list[tuple[str, Any]]) -> None:
    if value is None:
        return
    if _is_tensor(value):
        flat.append((prefix or "output", value))
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(item, _join(prefix, str(key)), flat)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _walk(getattr(value, f.name), _join(prefix, f.name), flat)
    elif isinstance(value, (tuple, list)):
        base = prefix or "output"
        for i, item in enumerate(value):
            _walk(item, f"{base}_{i}", flat)
    else:
        raise TypeError(f"unsupported output type {type(value).__name__}")
