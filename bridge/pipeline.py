"""Conversion: plan the chain of converters, build every artifact in a staging folder, then move them
into the output folder together, so a failed run leaves nothing behind."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from bridge.atomic import check_writable, raise_if_stopped, replace_into, staging_dir
from bridge.errors import BridgeError, UnsupportedError, UsageError, first_line
from bridge.formats import FORMATS, get_format
from bridge.model import Artifact, ConvertOptions, Model
from bridge.progress import Progress
from bridge.registry import REGISTRY, Converter

__all__ = ["plan", "run_conversions", "parse_targets"]


def parse_targets(to: str | Sequence[str]) -> list[str]:
    items = to.split(",") if isinstance(to, str) else [t for part in to for t in str(part).split(",")]
    targets = [get_format(t).name for t in items if t.strip()]
    if not targets:
        raise UsageError("no target format; pass --to onnx,tf (see 'bridge formats')")
    return list(dict.fromkeys(targets))


def plan(source_format: str, targets: Sequence[str]) -> list[Converter]:
    """The converters to run, in order, each edge once: ``--to tf`` from torch is torch->onnx, onnx->tf."""
    steps: list[Converter] = []
    for target in targets:
        if target == source_format:
            raise UsageError(f"the source is already {target}; choose another --to format")
        for edge in REGISTRY.path(source_format, target):
            if edge not in steps:
                steps.append(edge)
    return steps


def run_conversions(
    model: Model, steps: Sequence[Converter], out_dir: Path, options: ConvertOptions, force: bool = False,
    progress: Progress | None = None,
) -> list[Artifact]:
    """Run ``steps`` from ``model``; all artifacts land in ``out_dir`` together or not at all."""
    progress = progress or Progress(quiet=True)
    out_dir = Path(out_dir)
    finals = {s.target: out_dir / FORMATS[s.target].artifact_name(model.stem) for s in steps}
    for path in finals.values():
        check_writable(path, force)
    # Staging sits beside the output folder (same filesystem for atomic renames, never inside the output).
    parent = out_dir.resolve().parent
    made: dict[str, Artifact | Model] = {model.format: model}
    artifacts: list[Artifact] = []
    with staging_dir(parent) as staging:
        for step in steps:
            tmp_path = staging / FORMATS[step.target].artifact_name(model.stem)
            with progress.step(f"{step.source} → {step.target} ({step.name})"):
                start = time.perf_counter()
                try:
                    artifact = step.fn(made[step.source], tmp_path, options)
                except BridgeError:
                    raise
                except Exception as exc:
                    detail = first_line(exc)
                    raise UnsupportedError(f"{step.source} -> {step.target} failed: {type(exc).__name__}: {detail}") from exc
                artifact.convert_seconds = time.perf_counter() - start
                artifact.parent = step.source
            raise_if_stopped()
            made[step.target] = artifact
            artifacts.append(artifact)
        out_dir.mkdir(parents=True, exist_ok=True)
        for artifact in artifacts:
            final = finals[artifact.format]
            for companion in artifact.companions:  # external data first, so the model never lacks it
                replace_into(companion, final.parent / companion.name, staging)
            replace_into(artifact.path, final, staging)
            artifact.path = final
            artifact.companions = [final.parent / c.name for c in artifact.companions]
    return artifacts
