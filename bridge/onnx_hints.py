"""What a tool leaves behind in an ONNX file besides the model's meaning: ``value_info`` entries, declared
shapes of graph (and subgraph) outputs, ``-1`` dims on graph inputs, the default domain imported twice.

ONNX Runtime treats all of these as hints: it infers shapes itself, warns where a hint disagrees and runs
the model. bridge does the same. A model is checked once as it is; when strict inference trips (or finds a
negative dim), it is checked again with every hint removed, and only an error that remains then makes the
model invalid. Hints that contradict what inference derives are dropped from the model bridge converts,
and each kind of drop becomes one warning line for the report.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bridge.onnx_graphs import walk_graphs

__all__ = ["normalize_idioms", "strip_hints", "contradicting_hints", "drop_hints", "hint_warnings", "describe_dims"]

Dims = list[int | str | None] | None


def _dims(value: Any) -> tuple[int, Dims]:
    """(elem_type, dims) of a ValueInfoProto; dims None when the shape (rank) is unknown."""
    if not value.type.HasField("tensor_type"):
        return 0, None
    t = value.type.tensor_type
    if not t.HasField("shape"):
        return t.elem_type, None
    return t.elem_type, [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]


def describe_dims(dims: Dims) -> str:
    return "?" if dims is None else "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def normalize_idioms(model: Any) -> list[str]:
    """Rewrite, in place, exporter idioms that ONNX Runtime accepts but the ONNX checker or bridge's own
    code would not; returns warnings for the report.

    - The default domain imported under both of its names ("" and "ai.onnx", as skl2onnx writes it), or any
      domain imported twice: one import is kept, and where the versions differ the one listed last, as ONNX
      Runtime does.
    - A graph input dim of ``-1`` (paddle2onnx's way of writing "dynamic") becomes a dynamic dim.
    """
    warnings: list[str] = []
    seen: dict[str, tuple[int, str]] = {}
    for entry in model.opset_import:
        domain = "" if entry.domain == "ai.onnx" else entry.domain
        if domain in seen and seen[domain][0] != entry.version:
            shown = domain or "ai.onnx"
            warnings.append(f"the model imports opset domain '{shown}' twice ('{seen[domain][1]}' version "
                            f"{seen[domain][0]}, '{entry.domain}' version {entry.version}); using version "
                            f"{entry.version}, the one listed last, as ONNX Runtime does")
        seen[domain] = (int(entry.version), entry.domain)
    if len(seen) != len(model.opset_import):
        del model.opset_import[:]
        for domain, (version, _) in seen.items():
            model.opset_import.add(domain=domain, version=version)
    for value in model.graph.input:
        if value.type.HasField("tensor_type") and value.type.tensor_type.HasField("shape"):
            for dim in value.type.tensor_type.shape.dim:
                if dim.HasField("dim_value") and dim.dim_value < 0:
                    dim.Clear()  # unknown size: a dynamic dim
    return warnings


def _hinted(model: Any) -> Iterator[tuple[str, Any]]:
    """Every hint: ``value_info`` entries and graph/subgraph outputs, as (kind, ValueInfoProto)."""
    for graph in walk_graphs(model.graph):
        for value in graph.value_info:
            yield "value_info", value
        for value in graph.output:
            yield "output", value


def strip_hints(model: Any) -> Any:
    """A copy of ``model`` without value_info and without declared output shapes (element types stay)."""
    import onnx

    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    for graph in walk_graphs(bare.graph):
        del graph.value_info[:]
        for value in graph.output:
            if value.type.HasField("tensor_type"):
                value.type.tensor_type.ClearField("shape")
    return bare


def _contradicts(hint: tuple[int, Dims], derived: tuple[int, Dims] | None) -> bool:
    elem, dims = hint
    if dims is not None and any(isinstance(d, int) and d < 0 for d in dims):
        return True  # an impossible dim, whatever inference says
    if derived is None:
        return False
    d_elem, d_dims = derived
    if elem and d_elem and elem != d_elem:
        return True
    if dims is None or d_dims is None:
        return False
    if len(dims) != len(d_dims):
        return True
    return any(isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(dims, d_dims))


def contradicting_hints(model: Any, inferred: Any) -> list[tuple[str, str, str, str]]:
    """Hints of ``model`` that ``inferred`` (strict inference of its hint-free copy) contradicts:
    (kind, name, hinted, derived) for each."""
    derived: dict[str, tuple[int, Dims]] = {}
    for graph in walk_graphs(inferred.graph):
        for value in [*graph.input, *graph.value_info, *graph.output]:
            elem, dims = _dims(value)
            if elem or dims is not None:
                derived[value.name] = (elem, dims)
    found = []
    for kind, value in _hinted(model):
        hint = _dims(value)
        if _contradicts(hint, derived.get(value.name)):
            seen = derived.get(value.name)
            found.append((kind, value.name, describe_dims(hint[1]), describe_dims(seen[1]) if seen else "nothing"))
    return found


def drop_hints(model: Any, names: set[str]) -> None:
    """Remove, in place, the value_info entries named in ``names`` and the declared shapes of outputs so named."""
    for graph in walk_graphs(model.graph):
        keep = [v for v in graph.value_info if v.name not in names]
        if len(keep) != len(graph.value_info):
            del graph.value_info[:]
            graph.value_info.extend(keep)
        for value in graph.output:
            if value.name in names and value.type.HasField("tensor_type"):
                value.type.tensor_type.ClearField("shape")


def hint_warnings(found: list[tuple[str, str, str, str]]) -> list[str]:
    """One warning line per kind of dropped hint, naming the first few."""
    lines = []
    for kind, what in (("value_info", "value_info entries"), ("output", "declared output shapes")):
        items = [f for f in found if f[0] == kind]
        if not items:
            continue
        shown = "; ".join(f"'{name}' says {hinted}, inference derives {derived}" for _, name, hinted, derived in items[:3])
        more = f" (and {len(items) - 3} more)" if len(items) > 3 else ""
        lines.append(f"dropped {len(items)} {what} that contradict ONNX shape inference: {shown}{more}; "
                     "they are hints, which ONNX Runtime ignores too")
    return lines
