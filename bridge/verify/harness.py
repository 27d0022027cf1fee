"""Run the reference and every artifact on the same feeds and compare their outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bridge.errors import BridgeError
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
    _, ref = reference or reference_outputs(source, feeds, device)
    results = []
    for artifact in artifacts:
        runtime = FORMATS[artifact.format].runtime
        try:
            runner = load_runner(artifact, device)
            outputs = runner.run(feeds)
            stage = StageParity(artifact.format, runner.runtime, device, source.format, compare_outputs(ref, outputs, tolerances))
        except BridgeError as exc:
            if exc.exit_code == 2 and "--device" in str(exc):
                raise
            stage = StageParity(artifact.format, runtime, device, source.format, [], error=str(exc))
        except Exception as exc:  # a runtime crash is a failed check, reported with its cause
            stage = StageParity(artifact.format, runtime, device, source.format, [],
                                error=f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
        results.append(stage)
    return results
