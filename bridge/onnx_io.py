"""Reading ONNX files safely: parse, check and describe, with every failure a one-line UsageError."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from bridge.errors import UsageError, first_line
from bridge.external_data import check_external_data, external_tensors
from bridge.model import InputSpec
from bridge.onnx_validate import check_model_semantics

__all__ = ["load_onnx_checked", "check_model_semantics", "onnx_input_specs", "onnx_dtype_name", "GraphFacts",
           "graph_facts"]


def load_onnx_checked(path: Path, load_external_data: bool = True, warnings: list[str] | None = None) -> Any:
    """Load and validate an ONNX model; raise UsageError naming the problem if it is not a valid model.

    Hints that contradict shape inference are dropped from the returned model; what was dropped or
    normalised is appended to ``warnings`` when a list is given.
    """
    import onnx

    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise UsageError(f"{path} is not a valid ONNX file ({first_line(exc)}); re-export it") from exc
    if not model.graph.node and not model.graph.output:
        raise UsageError(f"{path} holds no ONNX graph; is it an ONNX file?")
    # External data is checked before anything (the ONNX checker included) opens those files.
    check_external_data(model, path.parent)
    found = check_model_semantics(model, str(path), path=path)
    if warnings is not None:
        warnings.extend(found)
    if load_external_data and any(True for _ in external_tensors(model.graph)):
        from onnx.external_data_helper import load_external_data_for_model

        try:
            load_external_data_for_model(model, str(path.parent))
        except Exception as exc:
            raise UsageError(f"{path}: cannot read its external data: {first_line(exc)}") from exc
    return model



def onnx_dtype_name(elem_type: int) -> str:
    import numpy as np
    import onnx

    try:
        return str(np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)))
    except Exception:
        return onnx.TensorProto.DataType.Name(elem_type).lower()


def onnx_input_specs(model: Any) -> list[InputSpec]:
    """Graph inputs that are not initializers, with their shapes (labels or None for dynamic axes; the
    whole shape None when the rank is unknown)."""
    initializers = {t.name for t in model.graph.initializer}
    specs = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor_type = value.type.tensor_type
        dims: tuple[int | str | None, ...] | None = None
        if tensor_type.HasField("shape"):
            # A negative dim_value is an exporter's "dynamic" (paddle2onnx writes -1).
            dims = tuple(int(d.dim_value) if d.HasField("dim_value") and d.dim_value >= 0 else (d.dim_param or None)
                         for d in tensor_type.shape.dim)
        specs.append(InputSpec(value.name, dims, onnx_dtype_name(tensor_type.elem_type)))  # type: ignore[arg-type]
    return specs


@dataclass(frozen=True)
class GraphFacts:
    """What the verdict rules read of an ONNX file (``bridge.verify``): its metadata, the op type producing
    each main-graph output, and every (domain, op type) in the model, subgraphs included ("" for ai.onnx)."""

    metadata: dict[str, str]
    output_producers: dict[str, str]
    op_types: frozenset[tuple[str, str]]


def graph_facts(path: str | Path | None) -> GraphFacts | None:
    """The :class:`GraphFacts` of the ONNX file at ``path``, read once per version of the file (without its
    external data); None where there is no readable file (a broken model is reported elsewhere)."""
    if path is None or not Path(path).is_file():
        return None
    path = Path(path)
    try:
        return _graph_facts(str(path.resolve()), path.stat().st_mtime)
    except Exception:
        return None


@lru_cache(maxsize=8)
def _graph_facts(path: str, mtime: float) -> GraphFacts:
    import onnx

    from bridge.onnx_graphs import walk_graphs

    model = onnx.load(path, load_external_data=False)
    producers = {out: node.op_type for node in model.graph.node for out in node.output}
    return GraphFacts({p.key: p.value for p in model.metadata_props},
                      {o.name: producers[o.name] for o in model.graph.output if o.name in producers},
                      frozenset(("" if n.domain == "ai.onnx" else n.domain, n.op_type)
                                for g in walk_graphs(model.graph) for n in g.node))
