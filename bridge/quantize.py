"""Quantisation settings shared by the CLI, the API, the tf -> tflite edge and the verdict rule: the modes,
calibration data, and the names that tie a TFLite tensor back to its ONNX node and PyTorch module.

Calibration data is ``.npz`` (arrays keyed by input name, first axis = samples) or a folder of ``.npz``/``.npy``
files (``.npy`` for single-input models), concatenated in file-name order. Samples are fed in batches of the
model's own batch size (the first axis of its example inputs).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.errors import UsageError

__all__ = ["MODES", "INTEGER_MODES", "KEEP_FLOAT", "QuantizeRequest", "parse_modes", "mode_of", "load_calibration",
           "calibration_batches", "generated_calibration", "scope_name", "onnx_layers", "tensor_nodes",
           "match_layers", "GENERATED_SAMPLES", "check_quantize_options", "quantize_request"]

MODES = ("fp16", "dynamic", "int8", "int8x16")
INTEGER_MODES = ("int8", "int8x16")  # the modes with quantized activations: calibration, --int8-io
KEEP_FLOAT = "keep-float"  # variant suffix: "int8+keep-float"
GENERATED_SAMPLES = 16  # generated calibration batches when no --calibration is given


@dataclass
class QuantizeRequest:
    """What ``--quantize`` asked for. ``calibration`` holds feed dicts, one per batch, by source input name."""

    modes: list[str]
    calibration: list[dict[str, Any]] = field(default_factory=list)
    calibration_source: str = ""  # "digits.npz (1437 samples)" or "generated (16 batches)"
    generated: bool = False
    int8_io: bool = False
    keep_float: list[str] = field(default_factory=list)

    def variants(self) -> list[str]:
        """The tflite variants to build: the float one first, then each mode, then the keep-float ones."""
        extra = [f"{m}+{KEEP_FLOAT}" for m in self.modes if m == "int8"] if self.keep_float else []
        return ["", *self.modes, *extra]

    def extra(self) -> dict[str, Any]:
        """What the tf -> tflite edge reads from ``ConvertOptions.extra``."""
        return {"calibration": self.calibration, "calibration_source": self.calibration_source,
                "calibration_generated": self.generated, "int8_io": self.int8_io, "keep_float": list(self.keep_float)}


def mode_of(variant: str) -> str:
    """``int8+keep-float`` -> ``int8``; "" (the float artifact) -> ""."""
    return variant.split("+", 1)[0]


def parse_modes(value: str | Sequence[str] | None) -> list[str]:
    """``"fp16,int8"`` or ``["fp16", "int8"]`` -> ``["fp16", "int8"]``; an unknown mode is a usage error."""
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else [t for part in value for t in str(part).split(",")]
    modes = [t.strip().lower() for t in items if t.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise UsageError(f"unknown --quantize mode '{unknown[0]}'; choose from {', '.join(MODES)} (comma-separated)")
    if not modes:
        raise UsageError(f"--quantize is empty; choose from {', '.join(MODES)}")
    return list(dict.fromkeys(modes))


# -- calibration data -------------------------------------------------------------------------------


def _read_npz(path: Path, names: Sequence[str]) -> dict[str, Any]:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except Exception as exc:
        raise UsageError(f"--calibration {path} is not a readable .npz of plain arrays ({type(exc).__name__}); "
                         "save it with numpy.savez") from exc
    positional = [f"in_{i}" for i in range(len(names))]
    if set(arrays) == set(names):
        return arrays
    if set(arrays) == set(positional):
        return {n: arrays[k] for n, k in zip(names, positional)}
    raise UsageError(f"--calibration {path} holds arrays {sorted(arrays)}; the model's inputs are {list(names)} "
                     "(key each array by input name, first axis = samples)")


def load_calibration(path: str | Path, names: Sequence[str]) -> dict[str, Any]:
    """Samples by input name from an ``.npz`` or a folder of ``.npz``/``.npy`` files. Never unpickles."""
    import numpy as np

    path = Path(path)
    if path.is_file():
        if path.suffix != ".npz":
            raise UsageError(f"--calibration {path}: expected an .npz file or a folder of .npz/.npy files")
        return _read_npz(path, names)
    if not path.is_dir():
        raise UsageError(f"--calibration {path}: no such file or folder")
    files = sorted(p for p in path.iterdir() if p.suffix in (".npz", ".npy") and p.is_file())
    if not files:
        raise UsageError(f"--calibration {path}: the folder holds no .npz or .npy files")
    parts: dict[str, list[Any]] = {n: [] for n in names}
    for file in files:
        if file.suffix == ".npy":
            if len(names) != 1:
                raise UsageError(f"--calibration {file}: a .npy file holds one array, but the model has inputs "
                                 f"{list(names)}; use .npz files keyed by input name")
            try:
                parts[names[0]].append(np.load(file, allow_pickle=False))
            except Exception as exc:
                raise UsageError(f"--calibration {file} is not a readable .npy array ({type(exc).__name__})") from exc
        else:
            for name, array in _read_npz(file, names).items():
                parts[name].append(array)
    try:
        return {n: np.concatenate(arrays, axis=0) for n, arrays in parts.items()}
    except ValueError as exc:
        raise UsageError(f"--calibration {path}: the files' arrays do not stack along the sample axis ({exc})") from exc


def calibration_batches(samples: Mapping[str, Any], feeds: Mapping[str, Any], where: str = "--calibration",
                        dynamic: Mapping[str, Mapping[int, str]] | None = None) -> list[dict[str, Any]]:
    """Check ``samples`` against the model's feeds (names, per-sample shapes, dtypes) and cut them into
    batches of the feeds' batch size; what does not fill a last batch is left out."""
    import numpy as np

    dynamic = dynamic or {}
    if set(samples) != set(feeds):
        raise UsageError(f"{where} holds arrays {sorted(samples)}; the model's inputs are {list(feeds)}")
    counts = set()
    for name, feed in feeds.items():
        array, feed = np.asarray(samples[name]), np.asarray(feed)
        if feed.ndim == 0:
            raise UsageError(f"{where}: input '{name}' is a scalar, so it has no sample axis to calibrate over")
        want = [None if axis + 1 in dynamic.get(name, {}) else d for axis, d in enumerate(feed.shape[1:])]
        got = list(array.shape[1:])
        if array.ndim != feed.ndim or any(w is not None and w != g for w, g in zip(want, got)):
            shown = "x".join("?" if w is None else str(w) for w in want) or "scalar"
            raise UsageError(f"{where}: array '{name}' has samples of shape {got or 'scalar'}; input '{name}' "
                             f"takes samples of shape {shown} (first axis = samples)")
        if _kind(array.dtype) != _kind(feed.dtype):
            raise UsageError(f"{where}: array '{name}' is {array.dtype}; input '{name}' takes {feed.dtype}")
        counts.add(array.shape[0])
    if len(counts) != 1:
        raise UsageError(f"{where}: the arrays hold different numbers of samples ({sorted(counts)})")
    total = counts.pop()
    batch = int(np.asarray(next(iter(feeds.values()))).shape[0])
    if total < batch:
        raise UsageError(f"{where} holds {total} samples; the model takes batches of {batch}")
    return [{n: np.ascontiguousarray(np.asarray(samples[n][i:i + batch]).astype(np.asarray(feeds[n]).dtype))
             for n in feeds} for i in range(0, total - batch + 1, batch)]


def _kind(dtype: Any) -> str:
    return "float" if dtype.kind in "fc" else "int" if dtype.kind in "iu" else dtype.kind


def generated_calibration(feeds: Mapping[str, Any], seed: int, ranges: Mapping[str, tuple[float, float]] | None,
                          count: int = GENERATED_SAMPLES) -> list[dict[str, Any]]:
    """Seeded random batches shaped like ``feeds``, drawn like the verification inputs (the first is ``feeds``)."""
    import numpy as np

    from bridge.inputs import random_inputs
    from bridge.model import InputSpec

    specs = [InputSpec(n, tuple(np.shape(v)), str(np.asarray(v).dtype)) for n, v in feeds.items()]
    return [dict(feeds)] + [random_inputs(specs, seed + 1000 + i, ranges) for i in range(count - 1)]


# -- names: TFLite tensor -> ONNX node -> PyTorch module ---------------------------------------------


def scope_name(node: Any) -> str:
    """The TF name scope our ONNX -> TF backend opens for ``node`` (the same rule as its graph walker), which
    TFLite keeps in its tensor names."""
    name = re.sub(r"[^A-Za-z0-9_.\-/]", "_", node.name or node.op_type).strip("/")
    return name if name and name[0].isalnum() else f"n{name}"


@dataclass(frozen=True)
class OnnxLayer:
    index: int  # topological position in the ONNX graph
    node: str
    op_type: str
    module: str


def onnx_layers(model: Any) -> dict[str, OnnxLayer]:
    """Every node of an ``onnx.ModelProto`` by its TF scope name."""
    from bridge.verify.localize import module_path

    layers: dict[str, OnnxLayer] = {}
    for i, node in enumerate(model.graph.node):
        layers.setdefault(scope_name(node), OnnxLayer(i, node.name or node.output[0], node.op_type, module_path(node)))
    return layers


def tensor_nodes(tensor_name: str, layers: Mapping[str, OnnxLayer]) -> list[OnnxLayer]:
    """The ONNX nodes a TFLite tensor was made from, earliest first. A fused op's name joins its parts with
    ';' ("node_conv/BiasAdd;node_conv/Conv2D"); each part starts with its node's scope."""
    found: dict[str, OnnxLayer] = {}
    for part in tensor_name.split(";"):
        pieces = part.split("/")
        for end in range(len(pieces) - 1, 0, -1):  # longest scope first: scopes may hold '/'
            scope = "/".join(pieces[:end])
            hit = layers.get(scope) or layers.get(re.sub(r"_\d+$", "", scope))  # TF uniquifies a reopened scope
            if hit is not None:
                found[hit.node] = hit
                break
    return sorted(found.values(), key=lambda layer: layer.index)


def match_layers(patterns: Sequence[str], layers: Mapping[str, OnnxLayer]) -> dict[str, list[OnnxLayer]]:
    """For each glob pattern, the ONNX nodes whose node name or PyTorch module path it matches."""
    return {pattern: [layer for layer in layers.values()
                      if fnmatch.fnmatchcase(layer.node, pattern) or (layer.module and fnmatch.fnmatchcase(layer.module, pattern))]
            for pattern in patterns}


def check_quantize_options(modes: Sequence[str], targets: Sequence[str], calibration: Any, int8_io: bool,
                           keep_float: Sequence[str]) -> None:
    """Refuse option combinations that cannot mean anything, before any work is done."""
    if not modes:
        for given, option in ((calibration, "--calibration"), (int8_io, "--int8-io"), (keep_float, "--keep-float")):
            if given:
                raise UsageError(f"{option} needs --quantize (e.g. --to tflite --quantize int8)")
        return
    if "tflite" not in targets:
        raise UsageError("--quantize makes quantized TFLite artifacts; add tflite to --to (e.g. --to tflite --quantize int8)")
    if int8_io and not any(m in INTEGER_MODES for m in modes):
        raise UsageError("--int8-io keeps integer inputs and outputs of a full-integer model; use it with --quantize int8 or int8x16")
    if keep_float and "int8" not in modes:
        raise UsageError("--keep-float leaves layers of an int8 model in float; use it with --quantize int8")


def quantize_request(modes: Sequence[str], calibration: Any, int8_io: bool, keep_float: Sequence[str],
                     feeds: Mapping[str, Any], dynamic: Mapping[str, Mapping[int, str]], seed: int,
                     ranges: Mapping[str, tuple[float, float]] | None) -> QuantizeRequest:
    """The modes with their calibration: the given samples batched like the model's feeds, or generated ones."""
    request = QuantizeRequest(list(modes), int8_io=int8_io, keep_float=list(keep_float))
    if calibration is None:
        request.calibration = generated_calibration(feeds, seed, ranges)
        request.calibration_source, request.generated = f"generated ({len(request.calibration)} batches)", True
        return request
    samples = calibration if isinstance(calibration, Mapping) else load_calibration(calibration, list(feeds))
    request.calibration = calibration_batches(samples, feeds, dynamic=dynamic)
    count = sum(int(next(iter(b.values())).shape[0]) for b in request.calibration)
    where = Path(calibration).name if isinstance(calibration, (str, Path)) else "arrays"
    request.calibration_source = f"{where} ({count} samples)"
    return request
