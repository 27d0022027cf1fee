"""Denormal inputs and activations change what a benchmark measures.

CPUs compute with subnormal floats (|x| < 1.18e-38 in float32) 10-100x slower, unless a runtime flushes
them to zero, and runtimes differ there. A random-weight network can drive its activations towards zero
(random MobileNetV2: 1e-22), where every product of two activations is subnormal, so a latency ratio then
measures denormal handling, not the model. The bench looks at the inputs and at every intermediate tensor
of the ONNX model (or the PyTorch module's submodule outputs) once, and warns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TensorScale", "tensor_scale", "denormal_warnings", "scan_tensors"]

# Below this magnitude a product of two float32 values is subnormal: sqrt of the smallest normal number
# (each dtype gets its own: sqrt(finfo(dtype).tiny)).
NEAR_DENORMAL = math.sqrt(1.1754944e-38)
_SUBNORMAL_SHARE = 0.001  # a tensor with more than this share of subnormal elements is flagged
_MAX_ONNX_BYTES = 1 << 30  # exposing every intermediate of a bigger model costs more than the check is worth


@dataclass
class TensorScale:
    name: str
    median_abs: float  # median magnitude of the non-zero elements
    subnormal_share: float
    near_denormal: float = NEAR_DENORMAL

    @property
    def flagged(self) -> bool:
        return self.subnormal_share > _SUBNORMAL_SHARE or 0.0 < self.median_abs < self.near_denormal


def tensor_scale(name: str, value: Any) -> TensorScale | None:
    """The scale of a floating-point tensor (None for other dtypes and empty tensors)."""
    import numpy as np

    array = np.asarray(value)
    if array.dtype.kind != "f" or array.size == 0:
        return None
    magnitude = np.abs(array[np.isfinite(array)].astype(np.float64, copy=False))
    nonzero = magnitude[magnitude > 0]
    if nonzero.size == 0:
        return TensorScale(name, 0.0, 0.0)
    tiny = float(np.finfo(array.dtype).tiny)
    return TensorScale(name, float(np.median(nonzero)), float(np.count_nonzero(nonzero < tiny)) / array.size,
                       math.sqrt(tiny))


def scan_tensors(tensors: Mapping[str, Any]) -> list[TensorScale]:
    """The flagged tensors among ``tensors``, smallest first."""
    scales = [s for s in (tensor_scale(n, v) for n, v in tensors.items()) if s is not None and s.flagged]
    return sorted(scales, key=lambda s: (s.median_abs, -s.subnormal_share))


def _describe(kind: str, flagged: Sequence[TensorScale], total: int) -> str:
    worst = flagged[0]
    detail = f"median |x| {worst.median_abs:.1e}"
    if worst.subnormal_share:
        detail += f", {worst.subnormal_share:.1%} subnormal"
    return (f"{kind} near the denormal range in {len(flagged)} of {total} tensors (e.g. '{worst.name}': {detail}); "
            "latency then measures denormal arithmetic, not the model: feed realistic data and initialise the model "
            "so activations stay near unit scale")


def _onnx_activations(path: Path, feeds: Mapping[str, Any]) -> dict[str, Any] | None:
    import onnx

    from bridge.verify.localize import ort_with_outputs

    data = sum(f.stat().st_size for f in path.parent.glob(f"{path.name}*") if f.is_file())
    if data > _MAX_ONNX_BYTES:
        return None
    model = onnx.load(str(path))
    names = [out for node in model.graph.node for out in node.output if out]
    try:
        return ort_with_outputs(model, feeds, names)
    except Exception:  # some intermediate the runtime cannot expose (sequence types): skip the check
        return None


def _torch_activations(module: Any, feeds: Mapping[str, Any]) -> dict[str, Any] | None:
    from bridge.verify.localize import _module_outputs

    try:
        return _module_outputs(module, feeds)
    except Exception:
        return None


def denormal_warnings(targets: Sequence[Any], feeds: Mapping[str, Any]) -> list[str]:
    """One line per problem: subnormal or near-subnormal inputs, then activations (from the first ONNX target,
    else a PyTorch source); nothing when every tensor is at a healthy scale."""
    warnings: list[str] = []
    flagged = scan_tensors(feeds)
    if flagged:
        warnings.append(_describe("inputs", flagged, len(feeds)))
    activations = None
    onnx_target = next((t for t in targets if t.format == "onnx"), None)
    if onnx_target is not None:
        activations = _onnx_activations(Path(onnx_target.path), feeds)
    if activations is None:
        torch_target = next((t for t in targets if t.format == "torch" and getattr(t, "handle", None) is not None), None)
        if torch_target is not None:
            activations = _torch_activations(torch_target.handle, feeds)
    if activations:
        flagged = scan_tensors(activations)
        if flagged:
            warnings.append(_describe("activations", flagged, len(activations)))
    return warnings
