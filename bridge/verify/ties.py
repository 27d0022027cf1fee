"""ArgMax/ArgMin outputs whose indices differ only where the data ties: compare the values they select.

TopK-style outputs carry their values beside the indices (see ``compare._excuse_index_ties``); a lone
ArgMax does not, so its data input is taken from the ONNX model, run in ONNX Runtime.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bridge.verify.compare import OutputParity

__all__ = ["excuse_argmax_ties"]


def excuse_argmax_ties(results: Sequence[OutputParity], reference: Mapping[str, Any], candidate: Mapping[str, Any],
                       onnx_path: str | Path, feeds: Mapping[str, Any]) -> None:
    """Mark failed index outputs produced by ArgMax/ArgMin as passed where both picks select equal data."""
    import numpy as np

    failed = [r for r in results if not r.passed and not r.problem and r.dtype.startswith(("int", "uint"))]
    if not failed:
        return
    from bridge.onnx_io import load_onnx_checked
    from bridge.verify.localize import ort_with_outputs

    model = load_onnx_checked(Path(onnx_path))
    producers = {out: node for node in model.graph.node for out in node.output}
    for res in failed:
        node = producers.get(res.name)
        if node is None or node.op_type not in ("ArgMax", "ArgMin"):
            continue
        attrs = {a.name: a.i for a in node.attribute}
        axis, keepdims = attrs.get("axis", 0), attrs.get("keepdims", 1)
        data = ort_with_outputs(model, feeds, [node.input[0]])[node.input[0]]
        axis = axis % data.ndim
        ref_idx, cand_idx = np.asarray(reference[res.name]), np.asarray(candidate[res.name])
        if not keepdims:
            ref_idx, cand_idx = np.expand_dims(ref_idx, axis), np.expand_dims(cand_idx, axis)
        if cand_idx.min() < 0 or cand_idx.max() >= data.shape[axis]:
            continue
        picked_ref = np.take_along_axis(data, ref_idx.astype(np.int64), axis)
        picked_cand = np.take_along_axis(data, cand_idx.astype(np.int64), axis)
        if np.array_equal(picked_ref, picked_cand, equal_nan=True):
            res.passed = True
            res.problem = f"ties: {int((ref_idx != cand_idx).sum())} indices differ where {node.op_type} sees equal values"
