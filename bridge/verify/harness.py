"""Run the reference and every artifact on the same feeds and compare their outputs.

Each artifact is compared with the source and, when it was converted from another artifact (tf from
onnx, tflite from tf), with that stage too, so a report can name the first hop where parity breaks.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping, Sequence
from typing import Any

from bridge.errors import BridgeError, ParityError, first_line
from bridge.formats import FORMATS
from bridge.model import Artifact, Model
from bridge.names import sanitize_names
from bridge.runtimes import load_runner
from bridge.verify.compare import StageParity, Tolerances, compare_outputs
from bridge.verify.detections import detection_outputs, judge_detections
from bridge.verify.noise import Truth, calibrate, float64_truth
from bridge.verify.run_time_quant import judge_run_time_quantized, quantizes_at_run_time
from bridge.verify.ties import excuse_argmax_ties

__all__ = ["verify_artifacts", "reference_outputs", "align_outputs", "first_failure", "describe_feeds"]


def reference_outputs(source: Model, feeds: Mapping[str, Any], device: str = "cpu") -> dict[str, Any]:
    """Run the source in its own runtime."""
    try:
        return load_runner(source, device).run(feeds)
    except BridgeError as exc:
        if "--device" in str(exc):
            raise
        detail = str(exc)
    except Exception as exc:  # the runtime refused these inputs (e.g. integer division by zero)
        detail = f"{type(exc).__name__}: {first_line(exc)}"
    raise ParityError(f"cannot run the {source.format} source to compare with: {detail}; "
                      "pass --no-verify to convert without checking")


def align_outputs(reference: Mapping[str, Any], outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Key ``outputs`` by the reference's names: exact names, else TF-sanitised names, else position."""
    if all(name in outputs for name in reference):
        return dict(outputs)
    sanitized = sanitize_names(list(reference))
    if all(sanitized[name] in outputs for name in reference):
        return {name: outputs[sanitized[name]] for name in reference}
    if len(outputs) == len(reference):
        return dict(zip(reference, outputs.values()))
    return dict(outputs)


def describe_feeds(feeds: Mapping[str, Any]) -> str:
    return ";".join(f"{n}:{'x'.join(str(d) for d in getattr(v, 'shape', ())) or 'scalar'}" for n, v in feeds.items())


# Runners of artifacts at least this big are dropped after their run instead of kept for the next input set,
# so that two copies of big weights (one per runtime) are never resident at once.
KEEP_RUNNER_BYTES = 1 << 30


def _run(artifact: Artifact, feeds: Mapping[str, Any], reference: Mapping[str, Any], device: str,
         runners: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    import gc

    try:
        runner = runners.get(artifact.label) or load_runner(artifact, device)
        outputs = runner.run(feeds)
        if artifact.label in runners or artifact.size_bytes < KEEP_RUNNER_BYTES:
            runners[artifact.label] = runner
        else:
            del runner
            gc.collect()  # TensorFlow's loaded objects hold reference cycles
        return align_outputs(reference, outputs), ""
    except BridgeError as exc:
        if "--device" in str(exc):
            raise
        return None, str(exc)
    except Exception as exc:  # a runtime crash is a failed check, reported with its cause
        first = first_line(exc)
        return None, f"{type(exc).__name__}: {first}"


def verify_artifacts(
    source: Model,
    artifacts: Sequence[Artifact],
    feeds: Mapping[str, Any],
    tolerances: Tolerances | None = None,
    device: str = "cpu",
    label: str = "",
    runners: dict[str, Any] | None = None,
    reference: Mapping[str, Any] | None = None,
) -> list[StageParity]:
    """Stages for every artifact against the source, then against its parent artifact where it has one.

    Float outputs are judged by the noise-calibrated rule where the source has a float64 truth (see
    ``bridge.verify.noise``) and no tolerance was chosen for them; otherwise by atol/rtol. ``reference``: the
    source's outputs on ``feeds`` when already computed (see ``bridge.api.convert``).
    Quantized artifacts are left to their own rule (``bridge.verify.quant``), which judges them over samples;
    a float output that fails where the source quantises at run time is judged by SNR and cosine instead
    (``bridge.verify.run_time_quant``).
    """
    tolerances = tolerances or Tolerances()
    runners = {} if runners is None else runners
    ref = dict(reference) if reference is not None else reference_outputs(source, feeds, device)
    truth = (Truth(None, reason="--atol/--rtol given") if tolerances.explicit
             else float64_truth(source, feeds, device))
    outputs: dict[str, dict[str, Any] | None] = {source.format: ref}
    onnx_path = source.path if source.format == "onnx" else next((a.path for a in artifacts if a.format == "onnx"), None)
    # Detection outputs: as the converter recorded them, else read from the ONNX file once an output fails
    # element-wise (so a model without detections never pays for reading it).
    recorded = next((a.meta["detections"] for a in artifacts if a.format == "onnx" and a.meta.get("detections")), None)
    detections: dict[str, Any] = {"specs": recorded}

    def compare(reference: dict[str, Any], candidate: dict[str, Any]) -> list[Any]:
        compared = compare_outputs(reference, candidate, tolerances)
        if onnx_path is not None:
            excuse_argmax_ties(compared, reference, candidate, onnx_path, feeds)
        calibrate(compared, ref, candidate, truth, tolerances, reference=None if reference is ref else reference)
        if any(not r.passed for r in compared) and quantizes_at_run_time(onnx_path):
            judge_run_time_quantized(compared, reference, candidate, tolerances)
        # detection outputs are sets of boxes: their own rule has the last word on them
        if detections["specs"] is None and any(not r.passed for r in compared):
            detections["specs"] = detection_outputs(onnx_path)
        if detections["specs"]:
            judge_detections(compared, reference, candidate, detections["specs"], tolerances)
        return compared

    results = []
    chain = []
    for artifact in artifacts:
        if artifact.meta.get("quantize"):
            continue
        out, error = _run(artifact, feeds, ref, device, runners)
        outputs[artifact.label] = out
        runtime = runners[artifact.label].runtime if artifact.label in runners else FORMATS[artifact.format].runtime
        compared = compare(ref, out) if out is not None else []
        results.append(StageParity(artifact.format, runtime, device, source.format, compared, error, label,
                                   calibration=truth.note, variant=artifact.variant))
        parent = artifact.parent
        if parent and parent != source.format and parent in outputs:
            parent_out = outputs[parent]
            if out is not None and parent_out is not None:
                chain.append(StageParity(artifact.format, runtime, device, parent, compare(parent_out, out), "", label,
                                         calibration=truth.note, variant=artifact.variant))
            elif out is None:
                chain.append(StageParity(artifact.format, runtime, device, parent, [], error, label,
                                         calibration=truth.note, variant=artifact.variant))
    return results + chain


def first_failure(parity: Sequence[StageParity], artifacts: Sequence[Artifact]) -> dict[str, str] | None:
    """The first hop, in conversion order, whose output leaves tolerance against the stage it came from."""
    for artifact in artifacts:
        against = artifact.parent or None
        stages = [p for p in parity if p.label == artifact.label and not p.advisory]
        hop = [p for p in stages if p.reference == against] or [p for p in stages if p.reference != against]
        failed = [p for p in hop if not p.passed]
        if failed:
            found = {"format": artifact.format, "runtime": failed[0].runtime, "reference": failed[0].reference,
                     "inputs": failed[0].inputs}
            if artifact.variant:
                found["label"] = artifact.label
            return found
    return None
