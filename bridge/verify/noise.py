"""Noise-calibrated verdicts: judge an artifact by how far it strays from float64 truth, in units of the
source's own float32 error.

The source runs a second time in float64 (a PyTorch module: a deep copy cast to double, float inputs cast;
an ONNX model: onnx's reference evaluator on a copy whose float tensors are double). That is the truth.
For each float32 output the *noise floor* is the source's own float32 error against it, and an artifact
passes when its error against the truth stays within ``noise_factor`` floors, plus a few float32 ULPs of
the output's scale (so an output the source computes exactly is not held to zero). The error measure is
the largest absolute deviation: rounding noise through 50 layers stays a small multiple of the floor,
while one weight tensor off by 0.1% moves the output by hundreds of floors.

Against a parent artifact (tf against onnx) the difference between the two is held to the same limit,
so the hop where parity breaks is still the one that fails.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.errors import first_line
from bridge.model import Model
from bridge.verify.compare import OutputParity, Tolerances

__all__ = ["DEFAULT_NOISE_FACTOR", "ZERO_FLOOR_ULPS", "ONNX_REFERENCE_LIMIT", "Truth", "float64_truth",
           "torch_float64_outputs", "onnx_float64_outputs", "calibrate", "noise_limit"]

DEFAULT_NOISE_FACTOR = 8.0
ZERO_FLOOR_ULPS = 4  # float32 ULPs of max|truth|, the least an artifact is allowed
ONNX_REFERENCE_LIMIT = 2_000_000  # weight elements; onnx's reference evaluator is numpy, node by node
TORCH_FLOAT64_LIMIT = 1 << 30  # parameter elements: a float64 copy of more would need over 8 GB
_EPS32 = 2.0**-23


@dataclass
class Truth:
    """Float64 outputs of the source (``outputs`` None when there are none, with the reason)."""

    outputs: dict[str, Any] | None
    source: str = ""  # "torch float64", "onnx reference evaluator (float64)"
    reason: str = ""  # why the fixed rule judges instead

    @property
    def note(self) -> str:
        if self.outputs is not None:
            return f"noise-calibrated against {self.source}"
        return f"fixed rule: {self.reason}" if self.reason else "fixed rule"


def torch_float64_outputs(module: Any, feeds: Mapping[str, Any], device: str = "cpu") -> dict[str, Any]:
    """The module's outputs from a float64 copy of it on float64 copies of the float inputs."""
    import numpy as np
    import torch

    from bridge.outputs import flatten_outputs

    double = copy.deepcopy(module).double().to(device)
    double.eval()
    args = []
    for value in feeds.values():
        array = np.array(value, copy=True)
        if array.dtype.kind == "f":
            array = array.astype(np.float64)
        args.append(torch.from_numpy(array).to(device))
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # tensors made inside forward (masks, ranges) follow
    try:
        with torch.inference_mode():
            result = double(*args)
    finally:
        torch.set_default_dtype(previous)
    return {name: value.detach().cpu().numpy() for name, value in flatten_outputs(result)}


def _weight_elements(model: Any) -> int:
    import numpy as np

    return int(sum(np.prod(t.dims) for t in model.graph.initializer))


def double_onnx(model: Any) -> Any:
    """A copy of ``model`` whose float32 tensors, casts and float-typed attributes are float64."""
    import numpy as np
    import onnx
    from onnx import TensorProto, numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    float_, double = TensorProto.FLOAT, TensorProto.DOUBLE

    def tensor(t: Any) -> None:
        if t.data_type == float_:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float64), t.name))

    def graph(g: Any) -> None:
        for init in g.initializer:
            tensor(init)
        for value in [*g.input, *g.output, *g.value_info]:
            if value.type.tensor_type.elem_type == float_:
                value.type.tensor_type.elem_type = double
        for node in g.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    tensor(attr.t)
                elif attr.type == onnx.AttributeProto.GRAPH:
                    graph(attr.g)
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    for sub in attr.graphs:
                        graph(sub)
                elif attr.name in ("to", "dtype") and attr.type == onnx.AttributeProto.INT and attr.i == float_:
                    attr.i = double
                elif node.op_type == "Constant" and attr.name == "value_float":
                    attr.CopyFrom(onnx.helper.make_attribute("value", numpy_helper.from_array(np.float64(attr.f))))

    graph(out.graph)
    for function in out.functions:
        for node in function.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    tensor(attr.t)
                elif attr.name in ("to", "dtype") and attr.type == onnx.AttributeProto.INT and attr.i == float_:
                    attr.i = double
    return out


def onnx_float64_outputs(model: Any, feeds: Mapping[str, Any]) -> dict[str, Any]:
    """Run the float64 copy of ``model`` (an ``onnx.ModelProto``) in onnx's reference evaluator."""
    import numpy as np
    from onnx.reference import ReferenceEvaluator

    from bridge.verify.reference_ops import reference_ops

    evaluator = ReferenceEvaluator(double_onnx(model), new_ops=reference_ops())
    doubled = {name: np.asarray(v).astype(np.float64) if np.asarray(v).dtype.kind == "f" else np.asarray(v)
               for name, v in feeds.items()}
    names = [o.name for o in model.graph.output]
    with warnings.catch_warnings():  # numpy's "mean of empty slice" and the like: the comparison judges results
        warnings.simplefilter("ignore", RuntimeWarning)
        return dict(zip(names, evaluator.run(None, doubled)))


def float64_truth(source: Model, feeds: Mapping[str, Any], device: str = "cpu") -> Truth:
    """The float64 truth for ``source`` on ``feeds``, or the reason there is none."""
    import numpy as np

    try:
        if source.format == "torch":
            size = sum(p.numel() for p in source.handle.parameters())
            if size > TORCH_FLOAT64_LIMIT:
                return Truth(None, reason=f"the module has {size:,} parameters, too many to copy in float64")
            outputs, label = torch_float64_outputs(source.handle, feeds, device), "torch float64"
        elif source.format == "onnx":
            from bridge.onnx_io import load_onnx_checked

            model = load_onnx_checked(Path(source.path))
            size = _weight_elements(model)
            if size > ONNX_REFERENCE_LIMIT:
                return Truth(None, reason=f"the ONNX model has {size:,} weight elements, more than the float64 "
                                          f"reference evaluator takes ({ONNX_REFERENCE_LIMIT:,})")
            outputs, label = onnx_float64_outputs(model, feeds), "onnx reference evaluator (float64)"
        else:
            return Truth(None, reason=f"no float64 run of a {source.format} source")
    except Exception as exc:  # a module or graph that refuses float64: the fixed rule still judges
        return Truth(None, reason=f"the float64 run failed ({type(exc).__name__}: {first_line(exc)[:160]})")
    narrow = [n for n, v in outputs.items() if np.asarray(v).dtype == np.float32]
    if narrow:
        return Truth(None, reason=f"the float64 run still computed {', '.join(narrow)} in float32")
    return Truth(outputs, label)


def noise_limit(floor: float, scale: float, factor: float) -> float:
    """The largest error an artifact may have: ``factor`` floors plus a few float32 ULPs of the scale."""
    return factor * floor + ZERO_FLOOR_ULPS * _EPS32 * scale


def _max_abs(a: Any, b: Any) -> float:
    import numpy as np

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    finite = np.isfinite(a) & np.isfinite(b)
    return float(np.abs(a - b)[finite].max()) if finite.any() else 0.0


def calibrate(results: Sequence[OutputParity], source32: Mapping[str, Any], candidate: Mapping[str, Any],
              truth: Truth, tolerances: Tolerances, reference: Mapping[str, Any] | None = None) -> None:
    """Judge each float32 output in ``results`` by the calibrated rule, where the user set no tolerance.

    ``source32`` holds the source's own float32 outputs (they give the floor). ``reference`` is the stage's
    reference when it is a parent artifact rather than the source: the difference to it is judged instead.
    Outputs that could not be compared numerically (missing, wrong shape), non-float outputs and those with
    an explicit --atol/--rtol keep the fixed rule's verdict.
    """
    import numpy as np

    from bridge.verify.compare import error_histogram

    if truth.outputs is None:
        return
    for res in results:
        name = res.name
        if (res.problem and not res.problem.startswith("ties")) or res.dtype != "float32" \
                or tolerances.is_fixed(name) or name not in truth.outputs or name not in candidate:
            continue
        exact = np.asarray(truth.outputs[name], dtype=np.float64)
        cand, own = np.asarray(candidate[name]), np.asarray(source32[name])
        if cand.shape != exact.shape or own.shape != exact.shape:
            continue
        nonfinite_bad = res.nonfinite_mismatches > 0
        floor = _max_abs(own, exact)
        finite = np.isfinite(exact)
        scale = float(np.abs(exact[finite]).max()) if finite.any() else 0.0
        against = exact if reference is None else np.asarray(reference[name], dtype=np.float64)
        error = _max_abs(cand, against)
        limit = noise_limit(floor, scale, tolerances.noise_factor)
        res.rule = "calibrated"
        res.error = error
        res.noise_floor = floor
        res.noise_factor = tolerances.noise_factor
        res.noise_limit = limit
        res.noise_ratio = error / floor if floor > 0 else (0.0 if error == 0 else float("inf"))
        if reference is None:
            diff = np.abs(cand.astype(np.float64) - exact)
            res.histogram = error_histogram(diff[np.isfinite(diff)])
        res.passed = error <= limit and not nonfinite_bad
