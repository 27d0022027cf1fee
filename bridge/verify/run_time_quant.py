"""Sources that quantise their own activations at run time, as ONNX Runtime's ``quantize_dynamic`` writes
them (DynamicQuantizeLinear, com.microsoft DynamicQuantizeLSTM and DynamicQuantizeMatMul).

Each such node rounds a float activation to an 8-bit code over the activation's own range. A difference
in the last bit before it (a sigmoid computed by another library) can move a value across a rounding
boundary, and the flipped code is a whole quantisation step downstream: no two runtimes agree on such a
model to float tolerances, ONNX Runtime on two CPUs included. So a float output of such a source that
fails the element-wise rule is judged the way dynamically quantized artifacts are (``bridge.verify.quant``:
SNR and cosine, the "dynamic" thresholds), unless it was given --atol/--rtol.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bridge.verify.compare import OutputParity, Tolerances

__all__ = ["RUN_TIME_QUANTIZERS", "quantizes_at_run_time", "judge_run_time_quantized"]

RUN_TIME_QUANTIZERS = {("", "DynamicQuantizeLinear"), ("com.microsoft", "DynamicQuantizeLSTM"),
                       ("com.microsoft", "DynamicQuantizeMatMul")}


def quantizes_at_run_time(onnx_path: str | Path | None) -> bool:
    """Whether the ONNX model at ``onnx_path`` has a node of ``RUN_TIME_QUANTIZERS``, in any subgraph."""
    from bridge.onnx_io import graph_facts

    facts = graph_facts(onnx_path)
    return facts is not None and bool(facts.op_types & RUN_TIME_QUANTIZERS)


def judge_run_time_quantized(results: list[OutputParity], reference: Mapping[str, Any], candidate: Mapping[str, Any],
                             tolerances: Tolerances) -> None:
    """Re-judge, in place, each failed float output not held to --atol/--rtol by SNR and cosine."""
    from bridge.verify.quant import QuantThresholds, judge_output

    for i, res in enumerate(results):
        if res.passed or res.problem or not res.dtype.startswith(("float", "bfloat")) or tolerances.is_fixed(res.name):
            continue
        results[i] = judge_output(res.name, reference[res.name], candidate[res.name], "dynamic", QuantThresholds())
