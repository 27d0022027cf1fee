"""The Python API: the same functions the CLI calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge._version import __version__
from bridge.errors import EXIT_OK, EXIT_PARITY
from bridge.inputs import parse_input_shape, resolve_inputs
from bridge.model import Artifact, ConvertOptions, InputSpec, Model
from bridge.pipeline import parse_targets, plan, run_conversions
from bridge.progress import Progress
from bridge.sources import load_source
from bridge.verify.compare import StageParity, Tolerances
from bridge.runtimes import check_device
from bridge.verify.harness import verify_artifacts

__all__ = ["convert", "verify", "ConversionResult"]


@dataclass
class ConversionResult:
    source: Model
    inputs: dict[str, Any]
    artifacts: list[Artifact] = field(default_factory=list)
    parity: list[StageParity] = field(default_factory=list)
    bench: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.parity)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.passed else EXIT_PARITY

    def to_json(self) -> dict[str, Any]:
        return {
            "bridge_version": __version__,
            "source": {"path": self.source.path, "format": self.source.format},
            "inputs": [
                {"name": n, "shape": list(getattr(v, "shape", ())), "dtype": str(getattr(v, "dtype", ""))}
                for n, v in self.inputs.items()
            ],
            "artifacts": [a.to_json() for a in self.artifacts],
            "parity": [p.to_json() for p in self.parity],
            "bench": list(self.bench),
            "passed": self.passed,
        }


def _shapes(input_shapes: Sequence[str | InputSpec]) -> list[InputSpec]:
    return [s if isinstance(s, InputSpec) else parse_input_shape(s) for s in input_shapes]


def convert(
    source: Any,
    to: str | Sequence[str] = ("onnx", "tf"),
    out_dir: str | Path = "bridge-out",
    inputs: Any = None,
    *,
    input_shapes: Sequence[str | InputSpec] = (),
    input_ranges: Mapping[str, tuple[float, float]] | None = None,
    dynamic: Mapping[str, Mapping[int, str]] | None = None,
    opset: int | None = None,
    verify: bool = True,
    device: str = "cpu",
    tolerances: Tolerances | None = None,
    seed: int = 0,
    force: bool = False,
    quiet: bool = True,
) -> ConversionResult:
    """Convert ``source`` (a SOURCE string, a path, or a live ``nn.Module``) to every format in ``to``.

    ``inputs`` may be a path to an ``.npz``, a dict of arrays by input name, or a sequence of arrays or
    tensors. Artifacts land in ``out_dir`` together or not at all. With ``verify``, each artifact is run on
    the same inputs as the source and compared output by output.
    """
    targets = parse_targets(to)
    shapes = _shapes(input_shapes)
    model = load_source(source)
    steps = plan(model.format, targets)
    feeds = resolve_inputs(model, inputs, shapes, seed, input_ranges)
    if not model.input_names:
        model.input_names = list(feeds)
    if verify:
        check_device(device)
    progress = Progress(quiet=quiet)
    options = ConvertOptions(feeds=feeds, opset=opset, dynamic={k: dict(v) for k, v in (dynamic or {}).items()})
    artifacts = run_conversions(model, steps, Path(out_dir), options, force=force, progress=progress)
    result = ConversionResult(source=model, inputs=feeds, artifacts=artifacts)
    if verify:
        with progress.step("verifying parity"):
            result.parity = verify_artifacts(model, artifacts, feeds, tolerances, device)
    return result


def verify(
    artifacts: Sequence[str | Path | Artifact],
    reference: Any,
    inputs: Any = None,
    *,
    input_shapes: Sequence[str | InputSpec] = (),
    input_ranges: Mapping[str, tuple[float, float]] | None = None,
    device: str = "cpu",
    tolerances: Tolerances | None = None,
    seed: int = 0,
) -> ConversionResult:
    """Check existing artifacts against a reference SOURCE without converting anything."""
    from bridge.artifacts import open_artifact

    model = load_source(reference)
    feeds = resolve_inputs(model, inputs, _shapes(input_shapes), seed, input_ranges)
    if not model.input_names:
        model.input_names = list(feeds)
    opened = [a if isinstance(a, Artifact) else open_artifact(a) for a in artifacts]
    result = ConversionResult(source=model, inputs=feeds, artifacts=opened)
    result.parity = verify_artifacts(model, opened, feeds, tolerances, device)
    return result
