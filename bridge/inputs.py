"""Model inputs: ``--input-shape`` specs, ``.npz`` files, seeded random generation, and resolution of the feeds."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bridge.errors import UsageError
from bridge.input_sizes import sized_dims
from bridge.model import InputSpec, Model

__all__ = [
    "parse_input_shape",
    "parse_input_range",
    "parse_dynamic",
    "parse_shape_sets",
    "load_npz",
    "random_inputs",
    "resolve_inputs",
]

_DTYPES = {
    "float32", "float16", "float64", "bfloat16", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64", "bool",
}
_ALIASES = {"float": "float32", "half": "float16", "double": "float64", "int": "int64", "long": "int64"}
_SHAPE_RE = re.compile(r"^(?P<name>[^:]+):(?P<shape>\d+(?:x\d+)*|scalar)(?::(?P<dtype>\w+))?$")


def _dtype(text: str, where: str) -> str:
    dtype = _ALIASES.get(text.lower(), text.lower())
    if dtype not in _DTYPES:
        raise UsageError(f"unknown dtype '{text}' in {where}; use one of {', '.join(sorted(_DTYPES))}")
    return dtype


def parse_input_shape(text: str) -> InputSpec:
    """``NAME:1x3x224x224[:dtype]`` (``NAME:scalar`` for a 0-d input). Without a dtype the spec's is None:
    :func:`resolve_inputs` takes the model's declared dtype for that input, else float32."""
    match = _SHAPE_RE.match(text.strip())
    if not match:
        raise UsageError(f"malformed --input-shape '{text}'; expected NAME:1x3x224x224[:dtype]")
    shape_text = match["shape"]
    shape = () if shape_text == "scalar" else tuple(int(d) for d in shape_text.split("x"))
    dtype = _dtype(match["dtype"], f"--input-shape '{text}'") if match["dtype"] else None
    return InputSpec(match["name"], shape, dtype)  # no dtype: the model's declared one (resolve_inputs)


def parse_input_range(text: str) -> tuple[str, float, float]:
    """``NAME:LOW:HIGH``: random values for NAME drawn from [LOW, HIGH)."""
    parts = text.split(":")
    try:
        name, low, high = parts[0], float(parts[1]), float(parts[2])
        if len(parts) != 3 or not name or high <= low:
            raise ValueError
    except (ValueError, IndexError):
        raise UsageError(f"malformed --input-range '{text}'; expected NAME:LOW:HIGH with LOW < HIGH") from None
    return name, low, high


def parse_shape_sets(text: str) -> list[list[InputSpec]]:
    """``--shapes 'x:1x3x64x64;x:4x3x96x96'``: sets separated by ``;``, inputs within a set by ``,``."""
    sets = []
    for chunk in text.split(";"):
        if chunk.strip():
            sets.append([parse_input_shape(part) for part in chunk.split(",") if part.strip()])
    if not sets:
        raise UsageError(f"malformed --shapes '{text}'; expected 'x:1x3x64x64;x:4x3x96x96'")
    return sets


def parse_dynamic(texts: Sequence[str]) -> dict[str, dict[int, str]]:
    """``NAME:AXIS[=label]`` repeated -> ``{name: {axis: label}}``."""
    dynamic: dict[str, dict[int, str]] = {}
    for text in texts:
        match = re.match(r"^(?P<name>[^:]+):(?P<axis>\d+)(?:=(?P<label>[A-Za-z_][A-Za-z0-9_]*))?$", text.strip())
        if not match:
            raise UsageError(f"malformed --dynamic '{text}'; expected NAME:AXIS[=label], e.g. x:0=batch")
        name, axis = match["name"], int(match["axis"])
        dynamic.setdefault(name, {})[axis] = match["label"] or f"{name}_dim{axis}"
    return dynamic


def load_npz(path: str | Path, names: Sequence[str]) -> dict[str, Any]:
    """Arrays keyed by input name, or ``in_0``, ``in_1``, ... in input order. Never unpickles."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no such inputs file: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except Exception as exc:
        raise UsageError(f"{path} is not a readable .npz of plain arrays ({type(exc).__name__}); save it with numpy.savez") from exc
    if all(n in arrays for n in names):
        return {n: arrays[n] for n in names}
    positional = [f"in_{i}" for i in range(len(names))]
    if all(k in arrays for k in positional):
        return {n: arrays[k] for n, k in zip(names, positional)}
    raise UsageError(
        f"{path} holds {sorted(arrays)}; expected keys {list(names)} (or {positional})"
    )


def random_inputs(
    specs: Sequence[InputSpec], seed: int = 0, ranges: Mapping[str, tuple[float, float]] | None = None
) -> dict[str, Any]:
    """Seeded inputs with sensible values per dtype: N(0, 1) floats, small non-negative ints, random bools."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ranges = ranges or {}
    feeds: dict[str, Any] = {}
    for spec in specs:
        if spec.shape is None:
            raise UsageError(f"input '{spec.name}' has no declared shape; pass --input-shape {spec.name}:1x3x224x224")
        shape = spec.example_shape or tuple(d if isinstance(d, int) else 1 for d in spec.shape)
        low, high = ranges.get(spec.name, (None, None))
        if spec.dtype == "bool":
            feeds[spec.name] = np.asarray(rng.random(shape) < 0.5)  # an array even for 0-d shapes
        elif spec.dtype.startswith(("int", "uint")):
            lo, hi = (int(low), int(high)) if low is not None else (0, 10)
            feeds[spec.name] = rng.integers(lo, hi, size=shape).astype(spec.dtype)
        else:
            dtype = "float32" if spec.dtype == "bfloat16" else spec.dtype
            if low is not None:
                value = rng.uniform(low, high, size=shape)
            else:
                value = rng.standard_normal(size=shape)
            feeds[spec.name] = value.astype(dtype)
    return feeds


def unsized_hint(specs: Sequence[InputSpec]) -> str:
    """What to say when a conversion fails with the dimensions generated inputs sized for want of a shape."""
    dims = sized_dims(specs)
    return (f"the dynamic input dimensions {', '.join(dims)} were sized for want of a shape: pass "
            "--input-shape with the sizes the model is meant for") if dims else ""


def resolve_inputs(
    model: Model,
    inputs: Any = None,
    shapes: Sequence[InputSpec] = (),
    seed: int = 0,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """Pick the feeds: explicit inputs, else random ones for ``shapes``, else the source's examples, else
    random ones for the source's declared input specs."""
    names = list(model.input_names)
    if inputs is not None:
        return _explicit_inputs(inputs, names)
    if shapes:
        known = {s.name for s in shapes}
        if names:
            unknown = known - set(names)
            if unknown:
                raise UsageError(f"--input-shape names {sorted(unknown)} are not inputs of the model; inputs are {names}")
            missing = [n for n in names if n not in known]
            if missing and model.example_inputs is None and not model.input_specs:
                raise UsageError(f"no shape for inputs {missing}; add --input-shape for each")
        declared = {s.name: s.dtype for s in model.input_specs}
        for spec in shapes:
            want = declared.get(spec.name)
            if spec.dtype is not None and want and spec.dtype != want:
                dims = "x".join(map(str, spec.shape)) or "scalar"
                raise UsageError(f"--input-shape gives '{spec.name}' dtype {spec.dtype}, but the model declares "
                                 f"{want}; write {spec.name}:{dims} without a dtype")
        shapes = [s if s.dtype is not None else replace(s, dtype=declared.get(s.name) or "float32") for s in shapes]
        feeds = random_inputs(shapes, seed, ranges)
        base = model.example_inputs or random_inputs([s for s in model.input_specs if s.name not in known], seed, ranges)
        ordered = names or list(feeds)
        return {n: feeds[n] if n in feeds else base[n] for n in ordered}
    if model.example_inputs is not None:
        return dict(model.example_inputs)
    if model.input_specs:
        return random_inputs(model.input_specs, seed, ranges)
    raise UsageError(
        f"cannot tell the input shapes of {model.stem}; pass --input-shape NAME:1x3x224x224 or --inputs FILE.npz"
    )


def _explicit_inputs(inputs: Any, names: list[str]) -> dict[str, Any]:

    if isinstance(inputs, (str, Path)):
        return load_npz(inputs, names)
    if isinstance(inputs, Mapping):
        missing = [n for n in names if n not in inputs]
        if missing:
            raise UsageError(f"inputs lack {missing}; the model's inputs are {names}")
        keys = names or list(inputs)
        return {n: _as_array(inputs[n]) for n in keys}
    if hasattr(inputs, "shape"):
        inputs = [inputs]
    values = list(inputs)
    if names and len(values) != len(names):
        raise UsageError(f"got {len(values)} inputs; the model takes {len(names)}: {names}")
    keys = names or [f"in_{i}" for i in range(len(values))]
    return {n: _as_array(v) for n, v in zip(keys, values)}


def _as_array(value: Any) -> Any:
    import numpy as np

    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)
