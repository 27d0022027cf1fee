"""The JSON report of ARCHITECTURE.md, written atomically."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bridge.report._write import write_text_atomic

__all__ = ["write_json", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """JSON has no NaN or Infinity; they become strings so any parser reads the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def write_json(data: dict[str, Any], path: str | Path) -> None:
    write_text_atomic(json.dumps(to_jsonable(data), indent=2) + "\n", path)
