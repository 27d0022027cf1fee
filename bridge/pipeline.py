"""Conversion: plan the chain of converters, build every artifact in a staging folder, then move them
into the output folder together, so a failed run leaves nothing behind."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bridge.atomic import check_writable, raise_if_stopped, replace_into, staging_dir
from bridge.errors import BridgeError, UnsupportedError, UsageError, first_line
from bridge.formats import FORMATS, get_format
from bridge.model import Artifact, ConvertOptions, Model
from bridge.progress import Progress
from bridge.registry import REGISTRY, Converter

__all__ = ["plan", "run_conversions", "parse_targets", "variant_name"]


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


def variant_name(fmt: str, stem: str, variant: str) -> str:
    """The artifact's file name: ``stem.tflite``, or ``stem_int8.tflite`` for the variant ``int8``."""
    if not variant:
        return FORMATS[fmt].artifact_name(stem)
    return FORMATS[fmt].artifact_name(f"{stem}_{re.sub(r'[^A-Za-z0-9]+', '_', variant).strip('_')}")


def run_conversions(
    model: Model, steps: Sequence[Converter], out_dir: Path, options: ConvertOptions, force: bool = False,
    progress: Progress | None = None,
) -> list[Artifact]:
    """Run ``steps`` from ``model``; all artifacts land in ``out_dir`` together or not at all.

    An edge whose target has ``options.variants`` runs once per variant (``tflite`` and ``tflite[int8]``
    from one SavedModel); the plain variant ("") is what later edges convert from.
    """
    progress = progress or Progress(quiet=True)
    out_dir = Path(out_dir)
    runs = [(step, variant) for step in steps for variant in options.variants.get(step.target, [""])]
    finals = {(s.target, v): out_dir / variant_name(s.target, model.stem, v) for s, v in runs}
    for path in finals.values():
        check_writable(path, force)
    # Staging sits beside the output folder (same filesystem for atomic renames, never inside the output).
    parent = out_dir.resolve().parent
    made: dict[str, Artifact | Model] = {model.format: model}
    artifacts: list[Artifact] = []
    with staging_dir(parent) as staging:
        for step, variant in runs:
            tmp_path = staging / variant_name(step.target, model.stem, variant)
            label = f"{step.target}[{variant}]" if variant else step.target
            with progress.step(f"{step.source} → {label} ({step.name})"):
                start = time.perf_counter()
                step_options = replace(options, variant=variant, upstream=dict(made), scratch=staging)
                try:
                    artifact = step.fn(made[step.source], tmp_path, step_options)
                except BridgeError:
                    raise
                except Exception as exc:
                    detail = first_line(exc)
                    raise UnsupportedError(f"{step.source} -> {step.target} failed: {type(exc).__name__}: {detail}") from exc
                artifact.convert_seconds = time.perf_counter() - start
                artifact.parent = step.source
                artifact.variant = variant
            raise_if_stopped()
            made[artifact.label] = artifact
            artifacts.append(artifact)
        out_dir.mkdir(parents=True, exist_ok=True)
        for artifact in artifacts:
            final = finals[(artifact.format, artifact.variant)]
            for companion in artifact.companions:  # external data first, so the model never lacks it
                replace_into(companion, final.parent / companion.name, staging)
            replace_into(artifact.path, final, staging)
            artifact.path = final
            artifact.companions = [final.parent / c.name for c in artifact.companions]
    return artifacts
