"""Partial values of shape vectors: what the walker knows of small integer tensors that are only partly static.

A model whose batch (or any one dim) stays dynamic computes its Reshape targets and Resize sizes from
``Shape`` at run time, e.g. ``Concat(Shape(x)[0:1], [197, 6, 64])``. TensorFlow folds none of that once one
dim is unknown, and TFLite's converter then keeps the whole chain (SHAPE, GATHER, and Flex ops for what it
has no int64 kernel for). Here each such tensor carries a :class:`Partial`: per entry an int or float where
the value is known at conversion time, a :class:`DimOf` where it is a run-time dim of a named tensor, and
None where nothing is known. A node whose partial value is wholly known becomes a constant (the walker's
folding then carries on from it); handlers read the rest through ``NodeContext.partial`` (a Reshape target
with one unknown entry becomes ``-1``; a Resize whose sizes pass the data's own batch and channel dims
through resizes only the spatial axes).

:func:`evaluate` is exact: an entry is known only where ONNX semantics give that value for every input the
model accepts with the dims it has fixed (the bound shapes of ``passes.shapes``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DimOf", "Partial", "OPS", "evaluate", "from_array", "is_dim_of"]

OPS = frozenset({"Shape", "Identity", "Gather", "Slice", "Concat", "Cast", "Unsqueeze", "Squeeze", "Add", "Sub",
                 "Mul", "Div", "Max", "Min", "Floor", "Ceil", "Sqrt", "Neg", "Abs"})  # what evaluate() reads
_MAX_ENTRIES = 16  # shape vectors are short; longer integer tensors are data, not shapes


@dataclass(frozen=True)
class DimOf:
    """Axis ``axis`` (ONNX order) of the value named ``value``, known only at run time."""

    value: str
    axis: int


Entry = int | float | DimOf | None


def is_dim_of(entry: Entry, value: str, axis: int | None = None) -> bool:
    """Whether ``entry`` is a run-time dim of ``value`` (on ONNX axis ``axis``, when given)."""
    return isinstance(entry, DimOf) and entry.value == value and axis in (None, entry.axis)


@dataclass(frozen=True)
class Partial:
    """A 0-D or 1-D numeric tensor entry by entry; ``dtype`` is its numpy dtype name."""

    entries: tuple[Entry, ...]
    dtype: str
    scalar: bool = False

    @property
    def known(self) -> bool:
        return all(isinstance(e, (int, float)) for e in self.entries)

    def array(self) -> Any:
        import numpy as np

        value = np.asarray(self.entries, dtype=self.dtype)
        return value.reshape(()) if self.scalar else value


def from_array(value: Any) -> Partial | None:
    """A static 0-D or short 1-D numeric array as a Partial (None for anything else)."""
    import numpy as np

    value = np.asarray(value)
    if value.ndim > 1 or value.size > _MAX_ENTRIES or value.dtype.kind not in "iuf":
        return None
    return Partial(tuple(v.item() for v in value.reshape(-1)), value.dtype.name, value.ndim == 0)


def _number(e: Entry) -> bool:
    return isinstance(e, (int, float))


def _ints(p: Partial | None) -> list[int] | None:
    if p is None or not p.known or any(not isinstance(e, int) for e in p.entries):
        return None
    return [int(e) for e in p.entries]


def _shape(node: Any, attrs: dict[str, Any], dims: list[int | None] | None) -> Partial | None:
    if dims is None:
        return None
    rank = len(dims)
    start, end = attrs.get("start", 0), attrs.get("end", rank)
    start, end = (min(max(v + rank if v < 0 else v, 0), rank) for v in (start, end))
    name = node.input[0]
    entries = [d if isinstance(d, int) else DimOf(name, a) for a, d in enumerate(dims)][start:end]
    return Partial(tuple(entries), "int64")


def _gather(attrs: dict[str, Any], data: Partial | None, indices: Partial | None) -> Partial | None:
    picks = _ints(indices)
    if data is None or data.scalar or picks is None or int(attrs.get("axis", 0)) != 0:
        return None
    n = len(data.entries)
    if any(not -n <= i < n for i in picks):
        return None
    return Partial(tuple(data.entries[i] for i in picks), data.dtype, indices.scalar)  # type: ignore[union-attr]


def _slice(node: Any, attrs: dict[str, Any], opset: int, inputs: Sequence[Partial | None]) -> Partial | None:
    data = inputs[0]
    if data is None or data.scalar:
        return None
    if opset < 10:
        starts, ends, axes, steps = attrs.get("starts"), attrs.get("ends"), attrs.get("axes", [0]), [1]
    else:
        starts, ends = _ints(inputs[1]), _ints(inputs[2])
        axes = _ints(inputs[3]) if len(inputs) > 3 and node.input[3] else [0]
        steps = _ints(inputs[4]) if len(inputs) > 4 and node.input[4] else [1]
    if starts is None or ends is None or axes is None or steps is None or len(starts) != 1:
        return None
    if axes[0] not in (0, -1) or steps[0] == 0:
        return None
    # ONNX clamps starts and ends like a Python slice (INT64_MAX and INT64_MIN included)
    return Partial(tuple(data.entries[slice(int(starts[0]), int(ends[0]), int(steps[0]))]), data.dtype)


def _concat(attrs: dict[str, Any], inputs: Sequence[Partial | None]) -> Partial | None:
    if any(p is None or p.scalar for p in inputs) or int(attrs.get("axis", 0)) not in (0, -1):
        return None
    entries = tuple(e for p in inputs for e in p.entries)  # type: ignore[union-attr]
    return Partial(entries, inputs[0].dtype) if len(entries) <= _MAX_ENTRIES else None  # type: ignore[union-attr]


def _cast(attrs: dict[str, Any], x: Partial | None) -> Partial | None:
    import numpy as np
    from onnx import helper

    if x is None:
        return None
    try:
        to = np.dtype(helper.tensor_dtype_to_np_dtype(int(attrs["to"])))
    except (KeyError, TypeError, ValueError):
        return None
    if to.kind not in "iuf":
        return None
    entries: list[Entry] = []
    for e in x.entries:
        if _number(e):
            entries.append(np.asarray(e, x.dtype).astype(to).item())
        else:  # a run-time dim keeps its identity through integer casts only
            entries.append(e if to.kind in "iu" and np.dtype(x.dtype).kind in "iu" else None)
    return Partial(tuple(entries), to.name, x.scalar)


def _int_div(a: int, b: int) -> int:
    """ONNX integer Div: C++'s truncation toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


_IDENTITY = {"Add": 0, "Sub": 0, "Mul": 1, "Div": 1}  # x op identity == x


def _binary(op: str, a: Partial | None, b: Partial | None) -> Partial | None:
    import numpy as np

    if a is None or b is None or a.dtype != b.dtype:
        return None
    na, nb = len(a.entries), len(b.entries)
    if na != nb and 1 not in (na, nb):
        return None
    n = max(na, nb)
    fn = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Max": np.maximum,
          "Min": np.minimum}[op]
    entries: list[Entry] = []
    for i in range(n):
        x, y = a.entries[i if na > 1 else 0], b.entries[i if nb > 1 else 0]
        if _number(x) and _number(y):
            if op == "Div" and np.dtype(a.dtype).kind in "iu":
                entries.append(_int_div(int(x), int(y)) if y != 0 else None)  # type: ignore[arg-type]
            else:
                entries.append(fn(np.asarray(x, a.dtype), np.asarray(y, a.dtype)).item())
        elif isinstance(x, DimOf) and _number(y) and _IDENTITY.get(op) == y:
            entries.append(x)
        elif isinstance(y, DimOf) and _number(x) and op in ("Add", "Mul") and _IDENTITY[op] == x:
            entries.append(y)
        else:
            entries.append(None)
    return Partial(tuple(entries), a.dtype, a.scalar and b.scalar)


def _unary(op: str, x: Partial | None) -> Partial | None:
    import numpy as np

    if x is None:
        return None
    fn = {"Floor": np.floor, "Ceil": np.ceil, "Sqrt": np.sqrt, "Neg": np.negative, "Abs": np.abs}[op]
    return Partial(tuple(fn(np.asarray(e, x.dtype)).item() if _number(e) else None for e in x.entries),
                   x.dtype, x.scalar)


def _unsqueeze(node: Any, attrs: dict[str, Any], opset: int, inputs: Sequence[Partial | None]) -> Partial | None:
    x = inputs[0]
    axes = attrs.get("axes") if opset < 13 else (_ints(inputs[1]) if len(inputs) > 1 else None)
    if x is None or not x.scalar or axes is None or list(axes) not in ([0], [-1]):
        return None
    return Partial(x.entries, x.dtype)


def _squeeze(node: Any, attrs: dict[str, Any], opset: int, inputs: Sequence[Partial | None]) -> Partial | None:
    x = inputs[0]
    if x is None or x.scalar or len(x.entries) != 1:
        return None
    axes = attrs.get("axes") if opset < 13 else (_ints(inputs[1]) if len(inputs) > 1 and node.input[1] else None)
    if axes is not None and list(axes) not in ([0], [-1]):
        return None
    return Partial(x.entries, x.dtype, scalar=True)


def evaluate(node: Any, attrs: dict[str, Any], opset: int, inputs: Sequence[Partial | None],
             dims: Callable[[int], list[int | None] | None]) -> Partial | None:
    """The partial value of ``node``'s first output from its inputs' (None when it has none worth keeping).

    ``dims(i)`` gives input i's ONNX-order static dims (None entries where dynamic), for Shape."""
    if node.domain not in ("", "ai.onnx") or len(node.output) != 1:
        return None
    op = node.op_type
    if op == "Shape":
        return _shape(node, attrs, dims(0))
    if not inputs:
        return None
    if op == "Identity":
        return inputs[0]
    if op == "Gather":
        return _gather(attrs, inputs[0], inputs[1] if len(inputs) > 1 else None)
    if op == "Slice":
        return _slice(node, attrs, opset, inputs)
    if op == "Concat":
        return _concat(attrs, inputs)
    if op == "Cast":
        return _cast(attrs, inputs[0])
    if op == "Unsqueeze":
        return _unsqueeze(node, attrs, opset, inputs)
    if op == "Squeeze":
        return _squeeze(node, attrs, opset, inputs)
    if op in ("Add", "Sub", "Mul", "Div", "Max", "Min") and len(inputs) == 2:
        return _binary(op, inputs[0], inputs[1])
    if op in ("Floor", "Ceil", "Sqrt", "Neg", "Abs"):
        return _unary(op, inputs[0])
    return None
