"""Run the reference and every artifact on the same feeds and compare their outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bridge.errors import BridgeError, ParityError
from bridge.formats import FORMATS
from bridge.model import Artifact, Model
from bridge.runtimes import load_runner
from bridge.verify.compare import StageParity, Tolerances, compare_outputs

__all__ = ["verify_artifacts", "reference_outputs"]


def reference_outputs(source: Model, feeds: Mapping[str, Any], device: str = "cpu") -> tuple[str, dict[str, Any]]:
    """Run the source in its own runtime; returns (runtime name, outputs)."""
    runner = load_runner(source, device)
    return runner.runtime, runner.run(feeds)


def verify_artifacts(
    source: Model,
    artifacts: Sequence[Artifact],
    feeds: Mapping[str, Any],
    tolerances: Tolerances | None = None,
    device: str = "cpu",
    reference: tuple[str, dict[str, Any]] | None = None,
) -> list[StageParity]:
    """Each artifact against the source's outputs. A runtime that fails to load or run yields a failed stage."""
    tolerances = tolerances or Tolerances()
    if reference is None:
        try:
            reference = reference_outputs(source, feeds, device)
        except BridgeError as exc:
            raise ParityError(f"cannot run the {source.format} source to compare with: {exc}; "
                              "pass --no-verify to convert without checking") from exc
    _, ref = reference
    results = []
    for artifact in artifacts:
        runtime = FORMATS[artifact.format].runtime
        try:
            runner = load_runner(artifact, device)
            outputs = runner.run(feeds)
            stage = StageParity(artifact.format, runner.runtime, device, source.format, compare_outputs(ref, outputs, tolerances))
        except BridgeError as exc:
            stage = StageParity(artifact.format, runtime, device, source.format, [], error=str(exc))
        except Exception as exc:  # a runtime crash is a failed check, reported with its cause
            stage = StageParity(artifact.format, runtime, device, source.format, [],
                                error=f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
        results.append(stage)
    return results
