"""The verdict rule for quantized artifacts: signal-to-noise ratio and cosine similarity, not float tolerances.

A quantized artifact is run on every sample batch (the calibration samples, at most ``MAX_SAMPLES``, else
the verification inputs) beside the source and the float TFLite; the outputs of all batches are joined and
compared with each. Per output: max_abs, mean_abs, cosine similarity, SNR in dB
(``10 log10(sum r^2 / sum (r - q)^2)``), and for classifier-shaped outputs (2-D, a row per sample, at least
two classes) top-1 agreement (the same arg-max) and top-5 agreement (the reference's top class among the
candidate's five best). An output passes when its SNR is at least ``--min-snr`` and its cosine at least
``--min-cosine``; the defaults per mode are ``DEFAULTS``. Integer outputs pass when the share of equal
elements is at least the cosine bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.errors import BridgeError, UsageError, first_line
from bridge.model import Artifact, Model
from bridge.verify.compare import OutputParity, StageParity, compare_output

__all__ = ["DEFAULTS", "MAX_SAMPLES", "QuantThresholds", "QuantOutputParity", "parse_thresholds", "snr_db",
           "topk_agreement", "judge_output", "verify_quantized", "summarize", "ratios_to_float"]

# mode -> (min SNR dB, min cosine). fp16 rounds weights to 11 significant bits (~60 dB on typical models);
# dynamic int8 weights with float activations keep ~25-35 dB; full int8 ~20-30 dB on a well-calibrated
# model; int16 activations take most of the activation error away. An uncorrelated error of SNR s dB
# gives a cosine of about 1/sqrt(1 + 10^(-s/10)), so each pair of bounds asks about the same.
DEFAULTS: dict[str, tuple[float, float]] = {
    "fp16": (40.0, 0.9999),
    "dynamic": (20.0, 0.99),
    "int8": (15.0, 0.98),
    "int8x16": (25.0, 0.995),
}
MAX_SAMPLES = 512  # samples a quantized artifact is judged on (the first ones)
SNR_CAP_DB = 120.0  # identical outputs have infinite SNR; arithmetic on it uses this instead


@dataclass
class QuantThresholds:
    """``--min-snr`` / ``--min-cosine``: per mode, or for every mode under "*"; unset modes use DEFAULTS."""

    min_snr: dict[str, float] = field(default_factory=dict)
    min_cosine: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_options(cls, min_snr: float | Mapping[str, float] | None,
                     min_cosine: float | Mapping[str, float] | None) -> QuantThresholds:
        """The API's ``min_snr=`` / ``min_cosine=``: one number for every mode, or a number per mode."""

        def by_mode(value: float | Mapping[str, float] | None) -> dict[str, float]:
            if value is None:
                return {}
            return {k: float(v) for k, v in value.items()} if isinstance(value, Mapping) else {"*": float(value)}

        return cls(by_mode(min_snr), by_mode(min_cosine))

    def for_mode(self, mode: str) -> tuple[float, float]:
        snr, cos = DEFAULTS.get(mode, DEFAULTS["int8"])
        return (self.min_snr.get(mode, self.min_snr.get("*", snr)), self.min_cosine.get(mode, self.min_cosine.get("*", cos)))


def parse_thresholds(values: Sequence[str], option: str) -> dict[str, float]:
    """``X`` (every mode) or ``MODE:X``, repeatable."""
    from bridge.quantize import MODES

    found: dict[str, float] = {}
    for text in values:
        mode, _, num = str(text).rpartition(":")
        mode = mode.strip().lower() or "*"
        if mode != "*" and mode not in MODES:
            raise UsageError(f"{option} '{text}': unknown mode '{mode}'; use X or MODE:X with MODE one of {', '.join(MODES)}")
        try:
            found[mode] = float(num)
        except ValueError:
            raise UsageError(f"{option} '{text}' is not a number; use X or MODE:X, e.g. {option} int8:20") from None
    return found


@dataclass
class QuantOutputParity(OutputParity):
    snr_db: float | None = None
    min_snr_db: float | None = None
    min_cosine: float | None = None
    top1_agreement: float | None = None
    top5_agreement: float | None = None
    samples: int = 0  # sample rows (first-axis entries) the numbers are over


def snr_db(reference: Any, candidate: Any) -> float:
    """Signal-to-noise ratio in dB of ``candidate`` as a copy of ``reference`` (inf when identical)."""
    import numpy as np

    r = np.asarray(reference, dtype=np.float64)
    noise = float(np.sum((r - np.asarray(candidate, dtype=np.float64)) ** 2))
    signal = float(np.sum(r**2))
    if noise == 0:
        return math.inf
    if signal == 0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def topk_agreement(reference: Any, candidate: Any, k: int) -> float | None:
    """Share of rows where the reference's top class is among the candidate's ``k`` best (k=1: same arg-max);
    None for outputs that are not a (rows, classes) score matrix with more than ``k`` classes (2 for k=1)."""
    import numpy as np

    r, c = np.asarray(reference), np.asarray(candidate)
    if r.ndim != 2 or r.shape != c.shape or r.dtype.kind != "f" or r.shape[1] < max(2, k + (k > 1)):
        return None
    best = np.argmax(r, axis=1)
    top = np.argsort(-c.astype(np.float64), axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == best[:, None], axis=1)))


def judge_output(name: str, reference: Any, candidate: Any, mode: str, thresholds: QuantThresholds,
                 samples: int = 0) -> QuantOutputParity:
    import numpy as np

    min_snr, min_cos = thresholds.for_mode(mode)
    base = compare_output(name, reference, candidate, 0.0, 0.0)
    result = QuantOutputParity(**vars(base), min_snr_db=min_snr, min_cosine=min_cos, samples=samples)
    result.rule = "snr"
    result.atol = result.rtol = 0.0
    if base.problem:
        result.passed = False
        return result
    ref = np.asarray(reference)
    if ref.dtype.kind not in "fc":  # integer outputs (indices, labels): the share that agrees
        result.passed = (1.0 - base.mismatch_ratio) >= min_cos
        return result
    result.snr_db = snr_db(reference, candidate)
    result.top1_agreement = topk_agreement(reference, candidate, 1)
    result.top5_agreement = topk_agreement(reference, candidate, 5)
    finite = base.nonfinite_mismatches == 0
    result.passed = finite and result.snr_db >= min_snr and (base.cosine is not None and base.cosine >= min_cos)
    if not finite:
        result.problem = f"{base.nonfinite_mismatches} non-finite values differ"
    return result


def _join(batches: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    import numpy as np

    joined = {}
    for name in batches[0]:
        parts = [np.asarray(b[name]) for b in batches if name in b]
        joined[name] = np.concatenate(parts, axis=0) if parts[0].ndim else np.stack(parts)
    return joined


def _outputs(target: Any, samples: Sequence[Mapping[str, Any]], reference: Mapping[str, Any] | None, device: str,
             runners: dict[str, Any]) -> tuple[dict[str, Any] | None, str, str]:
    """(joined outputs, error, runtime) of ``target`` over every sample batch."""
    from bridge.runtimes import load_runner
    from bridge.verify.harness import align_outputs

    key = getattr(target, "label", target.format)
    try:
        runner = runners.get(key) or load_runner(target, device)
        runners[key] = runner
        outs = [runner.run(dict(batch)) for batch in samples]
        if reference is not None:
            outs = [align_outputs(reference, o) for o in outs]
        return _join(outs), "", runner.runtime
    except BridgeError as exc:
        if "--device" in str(exc):
            raise
        return None, str(exc), ""
    except Exception as exc:  # a runtime crash is a failed check, reported with its cause
        return None, f"{type(exc).__name__}: {first_line(exc)}", ""


def _capped(samples: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    import numpy as np

    kept, count = [], 0
    for batch in samples:
        if count >= MAX_SAMPLES:
            break
        kept.append(batch)
        first = next(iter(batch.values()), None)
        count += int(np.shape(first)[0]) if np.ndim(first) else 1
    return kept


def verify_quantized(source: Model, artifacts: Sequence[Artifact], samples: Sequence[Mapping[str, Any]],
                     thresholds: QuantThresholds | None = None, device: str = "cpu",
                     runners: dict[str, Any] | None = None) -> list[StageParity]:
    """Each quantized artifact against the source and the float TFLite, over ``samples`` (feed dicts)."""
    from bridge.formats import FORMATS
    from bridge.verify.harness import reference_outputs

    quantized = [a for a in artifacts if a.meta.get("quantize")]
    if not quantized or not samples:
        return []
    thresholds = thresholds or QuantThresholds()
    runners = {} if runners is None else runners
    samples = _capped(samples)
    ref = _join([reference_outputs(source, batch, device) for batch in samples])
    rows = next((int(v.shape[0]) for v in ref.values() if getattr(v, "ndim", 0)), len(samples))
    references: list[tuple[str, dict[str, Any]]] = [(source.format, ref)]
    float_tflite = next((a for a in artifacts if a.format == "tflite" and not a.meta.get("quantize")), None)
    if float_tflite is not None:
        out, _error, _runtime = _outputs(float_tflite, samples, ref, device, runners)
        if out is not None:
            references.append((float_tflite.label, out))
    labels = {a.label for a in quantized}
    stages = []
    for artifact in quantized:
        mode = artifact.meta["quantize"]
        # With --keep-float, the fully quantized artifact is the baseline the fix is measured against.
        advisory = any(label.startswith(f"{artifact.label[:-1]}+") for label in labels)
        out, error, runtime = _outputs(artifact, samples, ref, device, runners)
        runtime = runtime or FORMATS[artifact.format].runtime
        for against, expected in references:
            compared = [] if out is None else [
                judge_output(name, value, out[name], mode, thresholds, rows) if name in out
                else QuantOutputParity(name=name, passed=False, problem="missing", rule="snr")
                for name, value in expected.items()]
            stages.append(StageParity(artifact.format, runtime, device, against, compared, error,
                                      variant=artifact.variant, quantize=mode, advisory=advisory))
    return stages


def _worst(stage: StageParity) -> dict[str, Any]:
    outs = [o for o in stage.outputs if isinstance(o, QuantOutputParity)]

    def low(key: str) -> float | None:
        values = [getattr(o, key) for o in outs if getattr(o, key) is not None]
        return min(values) if values else None

    return {"snr_db": low("snr_db"), "cosine": low("cosine"), "top1_agreement": low("top1_agreement"),
            "top5_agreement": low("top5_agreement"), "samples": max((o.samples for o in outs), default=0)}


def summarize(parity: Sequence[StageParity], artifacts: Sequence[Artifact], source_format: str) -> list[dict[str, Any]]:
    """One entry per quantized artifact: size (and its ratio to the float TFLite), the worst output's SNR,
    cosine and top-k against the source, its verdict; a keep-float artifact adds what it bought back
    against the fully quantized one."""
    float_tflite = next((a for a in artifacts if a.format == "tflite" and not a.meta.get("quantize")), None)
    float_size = float_tflite.size_bytes if float_tflite is not None else None
    entries: dict[str, dict[str, Any]] = {}
    for artifact in artifacts:
        mode = artifact.meta.get("quantize")
        if not mode:
            continue
        stages = [p for p in parity if p.label == artifact.label]
        against = next((p for p in stages if p.reference == source_format), stages[0] if stages else None)
        entry: dict[str, Any] = {"label": artifact.label, "quantize": mode, "size_bytes": artifact.size_bytes}
        if float_size:
            entry["size_vs_float"] = round(artifact.size_bytes / float_size, 4)
        if against is not None:
            entry.update(reference=against.reference, passed=all(p.passed for p in stages), **_worst(against))
            entry["advisory"] = against.advisory
            outs = [o for o in against.outputs if isinstance(o, QuantOutputParity)]
            if outs:
                entry["min_snr_db"], entry["min_cosine"] = outs[0].min_snr_db, outs[0].min_cosine
        for key in ("calibration", "float_ops", "scales", "keep_float"):
            if artifact.meta.get("report", {}).get(key):
                entry[key] = artifact.meta["report"][key]
        entries[artifact.label] = entry
    for label, entry in entries.items():
        if "+" not in label:
            continue
        base = entries.get(label.split("+", 1)[0] + "]")
        if base is None:
            continue
        bought = {"size_bytes": entry["size_bytes"] - base["size_bytes"]}
        for key in ("snr_db", "cosine", "top1_agreement", "top5_agreement"):
            if entry.get(key) is not None and base.get(key) is not None:
                bought[key] = _finite(entry[key]) - _finite(base[key])
        entry["bought_back"] = {"against": base["label"], **bought}
    return list(entries.values())


def _finite(value: float) -> float:
    return max(-SNR_CAP_DB, min(SNR_CAP_DB, value))


def ratios_to_float(bench: list[dict[str, Any]]) -> None:
    """Each quantized entry's p50 over the float TFLite's at the same device, batch and threads (same run)."""
    baseline = {(b["device"], b["batch"], b["threads"]): b["p50_ms"] for b in bench
                if b["format"] == "tflite" and not b.get("quantize") and not b.get("error") and b["p50_ms"] > 0}
    for b in bench:
        key = (b["device"], b["batch"], b["threads"])
        if b.get("quantize") and key in baseline and not b.get("error"):
            b["p50_vs_float_tflite"] = round(b["p50_ms"] / baseline[key], 3)
