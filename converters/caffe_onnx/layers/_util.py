"""Helpers the layer families share: Caffe's spatial parameters and small ONNX idioms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["spatial", "reshape", "int64", "scalar"]


def spatial(ctx: Any, param: Any, name: str, default: int | None, n: int) -> list[int]:
    """Caffe's repeated-or-_h/_w convention: ``pad_h``/``pad_w`` when either is set (2-D only), else the
    repeated field with one value for every spatial axis or one per axis, else ``default``."""
    fields = param.DESCRIPTOR.fields_by_name
    h, w = f"{name}_h", f"{name}_w"
    if h in fields and (param.HasField(h) or param.HasField(w)):
        if n != 2:
            raise ctx.fail(f"{h}/{w} are for 2-d inputs only")
        return [int(getattr(param, h)), int(getattr(param, w))]
    field = fields[name]
    if field.is_repeated:
        values = [int(v) for v in getattr(param, name)]
    else:
        values = [int(getattr(param, name))] if param.HasField(name) else []
    if not values:
        if default is None:
            raise ctx.fail(f"sets no {name}")
        return [default] * n
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise ctx.fail(f"has {len(values)} {name} values for {n} spatial axes")
    return values


def int64(ctx: Any, values: Sequence[int], what: str) -> str:
    import numpy as np

    return ctx.const(np.asarray(list(values), np.int64), what)


def reshape(ctx: Any, x: str, shape: Sequence[int], top: int | None = None, what: str = "reshape") -> str:
    """Reshape to a static shape; as top ``top`` when given."""
    target = int64(ctx, shape, f"{what}_shape")
    known = tuple(None if d == -1 else d for d in shape)  # -1: sized at run time (detections)
    if top is not None:
        return ctx.top(top, "Reshape", [x, target], known)
    return ctx.node("Reshape", [x, target], known, what)


def scalar(ctx: Any, value: float, what: str) -> str:
    import numpy as np

    return ctx.const(np.asarray(value, np.float32), what)
