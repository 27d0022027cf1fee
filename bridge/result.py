"""What ``bridge.convert`` returns: the artifacts, every verdict, and the JSON report they make."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge._version import __version__
from bridge.errors import EXIT_OK, EXIT_PARITY
from bridge.model import Artifact, Model
from bridge.verify.compare import StageParity
from bridge.verify.harness import first_failure

__all__ = ["ConversionResult"]


@dataclass
class ConversionResult:
    source: Model
    inputs: dict[str, Any]
    artifacts: list[Artifact] = field(default_factory=list)
    parity: list[StageParity] = field(default_factory=list)
    bench: list[dict[str, Any]] = field(default_factory=list)
    harness_overhead_ms: float | None = None
    localization: list[Any] = field(default_factory=list)
    gradients: list[Any] = field(default_factory=list)  # GradientParity (bridge.verify.gradients)
    gradient_notes: list[str] = field(default_factory=list)
    train_steps: list[Any] = field(default_factory=list)  # TrainStepsParity (bridge.verify.training)
    bench_warnings: list[str] = field(default_factory=list)  # e.g. denormal inputs or activations
    source_graph: dict[str, Any] | None = None  # graph figures of a file source (ONNX)
    quantization: list[dict[str, Any]] = field(default_factory=list)  # one summary per quantized artifact
    notes: list[str] = field(default_factory=list)  # run-level warnings (see ``warnings``)

    @property
    def passed(self) -> bool:
        return (all(p.passed for p in self.parity if not p.advisory) and all(g.passed for g in self.gradients)
                and all(t.passed for t in self.train_steps))

    @property
    def warnings(self) -> list[str]:
        """What loading and conversion changed or doubted (dropped shape hints, generated calibration data,
        ...), each line once."""
        lines = list(self.source.warnings) + list(self.notes)
        for artifact in self.artifacts:
            lines += artifact.meta.get("warnings", [])
        return list(dict.fromkeys(lines))

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.passed else EXIT_PARITY

    @property
    def first_failure(self) -> dict[str, str] | None:
        return first_failure(self.parity, self.artifacts)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "bridge_version": __version__,
            "source": {"path": self.source.path, "format": self.source.format,
                       **({"graph": self.source_graph} if self.source_graph else {})},
            "inputs": [
                {"name": n, "shape": list(getattr(v, "shape", ())), "dtype": str(getattr(v, "dtype", ""))}
                for n, v in self.inputs.items()
            ],
            "artifacts": [a.to_json() for a in self.artifacts],
            "parity": [p.to_json() for p in self.parity],
            "bench": list(self.bench),
            "passed": self.passed,
            "warnings": self.warnings,
        }
        if self.parity:
            data["first_failure"] = self.first_failure
        if self.harness_overhead_ms is not None:
            data["harness_overhead_ms"] = self.harness_overhead_ms
        if self.bench_warnings:
            data["bench_warnings"] = list(self.bench_warnings)
        if self.localization:
            data["localization"] = [loc.to_json() for loc in self.localization]
        if self.gradients or self.gradient_notes:
            data["gradients"] = [g.to_json() for g in self.gradients]
            data["gradient_notes"] = list(self.gradient_notes)
        if self.train_steps:
            data["train_steps"] = [t.to_json() for t in self.train_steps]
        if self.quantization:
            data["quantization"] = list(self.quantization)
        return data
