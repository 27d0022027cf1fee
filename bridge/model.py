"""The values that flow through a conversion: a loaded Model, its inputs, and the Artifacts made from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["InputSpec", "Model", "Artifact", "ConvertOptions"]


@dataclass(frozen=True)
class InputSpec:
    """One model input. ``shape`` holds ints, or None / a label string for a dynamic axis."""

    name: str
    shape: tuple[int | str | None, ...]
    dtype: str | None = "float32"  # None only in a parsed --input-shape without one (see bridge.inputs)
    # the shape generated inputs take (bridge.input_sizes); None: each dynamic axis sized 1
    example_shape: tuple[int, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass
class Model:
    """A loaded source.

    ``handle`` is the live object the format needs: an ``nn.Module`` for torch, a path for files.
    ``example_inputs`` are the arrays the source came with (a factory's example inputs), if any.
    """

    format: str
    handle: Any
    path: str
    stem: str
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    example_inputs: dict[str, Any] | None = None
    input_specs: list[InputSpec] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what loading changed or doubted (dropped hints, ...)
    input_notes: list[str] = field(default_factory=list)  # what generated inputs assume (said when used)


@dataclass
class Artifact:
    """A converted model on disk. ``meta`` is what the converter recorded (exporter, name maps, ...);
    ``meta["report"]`` holds the keys it adds to the artifact's JSON report entry."""

    format: str
    path: Path
    converter: str = ""
    convert_seconds: float = 0.0
    parent: str = ""  # the format this artifact was converted from ("" when unknown)
    companions: list[Path] = field(default_factory=list)  # files beside ``path`` that belong to it (external data)
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    graph: dict[str, Any] | None = None  # graph figures (bridge.inspect.figures): ops, transposes, casts, ...
    # Several artifacts of one format from one run (``tflite`` and ``tflite[int8]``) differ by variant.
    variant: str = ""

    @property
    def label(self) -> str:
        """``format``, or ``format[variant]``: what reports and the harness key this artifact by."""
        return f"{self.format}[{self.variant}]" if self.variant else self.format

    @property
    def size_bytes(self) -> int:
        """Bytes on disk: the file with its companions and its external data (``NAME.*`` beside it), or every
        file under a SavedModel folder."""
        path = Path(self.path)
        if path.is_dir():
            return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        files = dict.fromkeys([path, *self.companions, *path.parent.glob(f"{path.name}.*")])
        return sum(f.stat().st_size for f in files if f.is_file())

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": self.format,
            "path": str(self.path),
            "convert_seconds": round(self.convert_seconds, 4),
            "converter": self.converter,
            "size_bytes": self.size_bytes,
        }
        if self.meta.get("input_dims"):  # which input dims the artifact fixes and which stay dynamic
            data["input_dims"] = self.meta["input_dims"]
        if self.graph is not None:
            data["graph"] = dict(self.graph)
        if self.variant:
            data["label"] = self.label
        # What the converter asked to show (e.g. "quantize": "int8"); added keys never replace the fixed ones.
        data.update({k: v for k, v in self.meta.get("report", {}).items() if k not in data})
        return data


@dataclass
class ConvertOptions:
    """What every converter may read. ``feeds`` are the example inputs (name -> array).

    ``jit_compile``: compile the SavedModel's serving function with XLA (``--xla``).
    """

    feeds: dict[str, Any] = field(default_factory=dict)
    opset: int | None = None
    dynamic: dict[str, dict[int, str]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    jit_compile: bool = False
    # The variants to build per target format (e.g. {"tflite": ["", "int8"]}); the pipeline runs the edge
    # once per variant and sets ``variant`` for that call ("" is the plain artifact).
    variants: dict[str, list[str]] = field(default_factory=dict)
    variant: str = ""
    # Artifacts made earlier in this run (and the source), by label, so an edge can read its provenance.
    upstream: dict[str, Any] = field(default_factory=dict)
    # A folder that lasts the whole run (the pipeline's staging), where an edge may keep work that its other
    # variants reuse; None outside a pipeline run.
    scratch: Path | None = None
