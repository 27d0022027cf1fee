"""Names TensorFlow (and TFLite) accept, derived from ONNX/torch names by one documented rule."""

from __future__ import annotations

import re

__all__ = ["sanitize_names"]


def sanitize_names(names: list[str]) -> dict[str, str]:
    """ONNX name -> TensorFlow signature name.

    The one rule: every character outside ``[A-Za-z0-9_]`` becomes ``_``; a name that does not start with a
    letter gets a ``t_`` prefix; a clash with an earlier name gets ``_1``, ``_2``, ... appended.
    """
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        base = re.sub(r"[^A-Za-z0-9_]", "_", name)
        if not base or not base[0].isalpha():
            base = "t_" + base
        candidate, i = base, 0
        while candidate in used:
            i += 1
            candidate = f"{base}_{i}"
        used.add(candidate)
        mapping[name] = candidate
    return mapping
