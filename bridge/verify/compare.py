"""Compare one runtime's outputs with a reference's, output by output."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Tolerances", "OutputParity", "StageParity", "compare_output", "compare_outputs", "error_histogram",
           "failure_reason"]

DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-3


@dataclass
class Tolerances:
    """Default atol/rtol plus per-output overrides.

    Where the source has a float64 truth, outputs are judged by the noise-calibrated rule
    (``bridge.verify.noise``) unless a tolerance was chosen for them: ``explicit`` (the default atol/rtol
    were set, which any value other than the defaults implies) or a per-output entry switches an output to
    the fixed rule.
    """

    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL
    per_output_atol: dict[str, float] = field(default_factory=dict)
    per_output_rtol: dict[str, float] = field(default_factory=dict)
    noise_factor: float = 8.0  # bridge.verify.noise.DEFAULT_NOISE_FACTOR
    explicit: bool = False

    def __post_init__(self) -> None:
        if self.atol != DEFAULT_ATOL or self.rtol != DEFAULT_RTOL:
            self.explicit = True

    def for_output(self, name: str) -> tuple[float, float]:
        return self.per_output_atol.get(name, self.atol), self.per_output_rtol.get(name, self.rtol)

    def is_fixed(self, name: str) -> bool:
        """Whether ``name`` is judged by atol/rtol even where a calibrated verdict is possible."""
        return self.explicit or name in self.per_output_atol or name in self.per_output_rtol


@dataclass
class OutputParity:
    name: str
    passed: bool
    max_abs: float = 0.0
    max_rel: float = 0.0  # over elements whose |reference| > atol
    mean_abs: float = 0.0
    cosine: float | None = None
    mismatch_ratio: float = 0.0
    worst_index: list[int] | None = None
    nonfinite_mismatches: int = 0
    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL
    shape: list[int] | None = None
    dtype: str = ""
    problem: str = ""  # "missing", "shape", "dtype" when the comparison could not be numeric
    # |candidate - reference| histogram: counts per log10 bin; edges are powers of ten (plots, re-rendering)
    histogram: dict[str, list[float]] | None = None
    # the rule that judged it: "fixed" (atol/rtol), "calibrated" (bridge.verify.noise), "detections"
    # (bridge.verify.detections)
    rule: str = "fixed"
    detections: dict[str, Any] | None = None  # the "detections" rule's matching
    # the calibrated rule's numbers: error against float64 truth, the source's own float32 error, their ratio
    error: float | None = None
    noise_floor: float | None = None
    noise_ratio: float | None = None
    noise_factor: float | None = None
    noise_limit: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != ""}

    @property
    def reason(self) -> str:
        """What a failed verdict prints beside FAIL: the problem, or the NaN/inf the sides disagree on."""
        return failure_reason(self.problem, self.nonfinite_mismatches)


def failure_reason(problem: str, nonfinite_mismatches: int) -> str:
    if problem or not nonfinite_mismatches:
        return problem
    return f"{nonfinite_mismatches} NaN/inf not matched by the other side"


@dataclass
class StageParity:
    """All outputs of one artifact in one runtime against one reference."""

    format: str
    runtime: str
    device: str
    reference: str
    outputs: list[OutputParity]
    error: str = ""
    inputs: str = ""  # which input set, e.g. "x:4x3x96x96", when several shapes are verified
    calibration: str = ""  # how float outputs were judged: against which float64 truth, or why by the fixed rule
    variant: str = ""  # the artifact's variant ("int8"), when one format has several artifacts
    quantize: str = ""  # the quantisation mode of a quantized artifact
    advisory: bool = False  # reported, but not part of the run's verdict (a baseline for comparison)

    @property
    def label(self) -> str:
        return f"{self.format}[{self.variant}]" if self.variant else self.format

    @property
    def passed(self) -> bool:
        return not self.error and all(o.passed for o in self.outputs)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": self.format,
            "runtime": self.runtime,
            "device": self.device,
            "reference": self.reference,
            "passed": self.passed,
            "outputs": [o.to_json() for o in self.outputs],
        }
        if self.error:
            data["error"] = self.error
        if self.inputs:
            data["inputs"] = self.inputs
        if self.calibration:
            data["calibration"] = self.calibration
        if self.variant:
            data["label"] = self.label
        if self.quantize:
            data["quantize"] = self.quantize
        if self.advisory:
            data["advisory"] = True
        return data


def compare_output(name: str, reference: Any, candidate: Any, atol: float, rtol: float) -> OutputParity:
    """Numbers for one output; exact for integers and bools, |c - r| <= atol + rtol*|r| for floats.

    Non-finite values match only where both sides hold the same value (NaN with NaN, +inf with +inf).
    """
    import numpy as np

    ref = np.asarray(reference)
    cand = np.asarray(candidate)
    result = OutputParity(name=name, passed=False, atol=atol, rtol=rtol, shape=list(ref.shape), dtype=str(ref.dtype))
    if ref.shape != cand.shape:
        result.problem = f"shape {list(cand.shape)} != reference {list(ref.shape)}"
        return result
    exact = ref.dtype.kind in "biuUSO" or cand.dtype.kind in "biuUSO"
    if exact and ref.dtype.kind != cand.dtype.kind and not (ref.dtype.kind in "iu" and cand.dtype.kind in "iu"):
        result.problem = f"dtype {cand.dtype} != reference {ref.dtype}"
        return result
    if ref.size == 0:
        result.passed = True
        return result
    if exact:
        bad = ref != cand
        if ref.dtype.kind in "iub":
            diff = np.abs(ref.astype(np.float64) - cand.astype(np.float64))
            result.max_abs = float(diff.max())
            result.mean_abs = float(diff.mean())
        else:
            result.max_abs = float(bad.any())
        result.mismatch_ratio = float(bad.mean())
        if bad.any():
            result.worst_index = [int(i) for i in np.unravel_index(int(np.argmax(bad)), ref.shape)]
        result.passed = not bad.any()
        return result

    r = ref.astype(np.float64)
    c = cand.astype(np.float64)
    finite = np.isfinite(r) & np.isfinite(c)
    same_nonfinite = (~np.isfinite(r)) & (~np.isfinite(c)) & ((r == c) | (np.isnan(r) & np.isnan(c)))
    nonfinite_bad = ~finite & ~same_nonfinite
    diff = np.where(finite, np.abs(r - c), 0.0)
    # relative error where the reference is larger than atol: below it the absolute error is what the
    # tolerance judges, and dividing by a reference of 1e-300 would print 1e+297 for an error of 1e-7
    significant = finite & (np.abs(r) > max(atol, np.finfo(np.float64).tiny))
    rel = np.where(significant, diff / np.where(significant, np.abs(r), 1.0), 0.0)
    out_of_tol = (diff > atol + rtol * np.abs(np.where(finite, r, 0.0))) | nonfinite_bad
    result.max_abs = float(diff.max())
    result.max_rel = float(rel.max())
    result.mean_abs = float(diff[finite].mean()) if finite.any() else 0.0
    result.mismatch_ratio = float(out_of_tol.mean())
    result.nonfinite_mismatches = int(nonfinite_bad.sum())
    rf, cf = r[finite], c[finite]
    norm = float(np.linalg.norm(rf) * np.linalg.norm(cf))
    result.cosine = float(np.dot(rf.ravel(), cf.ravel()) / norm) if norm > 0 else (1.0 if not rf.any() and not cf.any() else 0.0)
    result.histogram = error_histogram(diff[finite])
    score = np.where(nonfinite_bad, np.inf, diff - (atol + rtol * np.abs(np.where(finite, r, 0.0))))
    result.worst_index = [int(i) for i in np.unravel_index(int(np.argmax(score)), ref.shape)]
    result.passed = not out_of_tol.any()
    return result


def error_histogram(abs_error: Any, low: int = -10, high: int = 2) -> dict[str, list[float]]:
    """Counts of absolute errors per decade from 10**low to 10**high; exact zeros land in the first bin."""
    import numpy as np

    edges = [10.0**e for e in range(low, high + 1)]
    clipped = np.clip(np.asarray(abs_error, dtype=np.float64).ravel(), edges[0], edges[-1])
    counts, _ = np.histogram(clipped, bins=edges)
    return {"edges": edges, "counts": [int(c) for c in counts]}


def compare_outputs(
    reference: Mapping[str, Any], candidate: Mapping[str, Any], tolerances: Tolerances | None = None
) -> list[OutputParity]:
    """Compare every reference output, by name; an output the candidate lacks fails as ``missing``."""
    tolerances = tolerances or Tolerances()
    results = []
    for name, ref in reference.items():
        atol, rtol = tolerances.for_output(name)
        if name not in candidate:
            results.append(OutputParity(name=name, passed=False, atol=atol, rtol=rtol, problem="missing"))
            continue
        results.append(compare_output(name, ref, candidate[name], atol, rtol))
    _excuse_index_ties(results, reference, candidate)
    return results


def _excuse_index_ties(results: list[OutputParity], reference: Mapping[str, Any], candidate: Mapping[str, Any]) -> None:
    """TopK-style pairs: where an index output differs but the values output beside it (same shape,
    passing) selected equal values, a tie was broken differently; that is not a failure."""
    import numpy as np

    passing_values = [r for r in results if r.passed and r.dtype.startswith(("float", "bfloat"))]
    for res in results:
        if res.passed or res.problem or not res.dtype.startswith(("int", "uint")):
            continue
        ref_idx, cand_idx = np.asarray(reference[res.name]), np.asarray(candidate[res.name])
        differ = ref_idx != cand_idx
        for values in passing_values:
            ref_val = np.asarray(reference[values.name])
            if ref_val.shape != ref_idx.shape:
                continue
            cand_val = np.asarray(candidate[values.name])
            close = np.abs(ref_val.astype(np.float64) - cand_val.astype(np.float64)) <= values.atol + values.rtol * np.abs(ref_val)
            if close[differ].all():
                res.passed = True
                res.problem = f"ties: {int(differ.sum())} indices differ where {values.name} selects equal values"
                break
