"""Sizes for an ONNX source's dynamic input axes when the user gives no inputs and no shapes.

Generated inputs size every dynamic axis 1, which suits a batch or a sequence but not an image: a detector
with dynamic height and width downsamples a 1x1 image to nothing. So an image input gets the size its
exporter wrote in the model's metadata (Ultralytics' ``imgsz`` and ``batch``), or else 224 x 224; each
sized input is named in a warning, and ``--input-shape`` always wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from bridge.model import InputSpec

__all__ = ["IMAGE_SIZE", "with_example_shapes", "sized_dims"]

IMAGE_SIZE = 224  # the side an image input gets when the model says nothing
_CHANNELS = (1, 3, 4)
_IMAGE_DTYPES = ("float16", "float32", "float64", "uint8")


def _spatial_axes(spec: InputSpec) -> tuple[int, int] | None:
    """The (height, width) axes of an NCHW or NHWC image input whose two are dynamic, else None."""
    shape = spec.shape
    if shape is None or len(shape) != 4 or spec.dtype not in _IMAGE_DTYPES:
        return None
    dynamic = [not isinstance(d, int) for d in shape]
    if shape[1] in _CHANNELS and dynamic[2] and dynamic[3]:
        return 2, 3
    if shape[3] in _CHANNELS and dynamic[1] and dynamic[2]:
        return 1, 2
    return None


def _metadata_size(metadata: Mapping[str, str]) -> tuple[int, int, int | None] | None:
    """(height, width, batch) from Ultralytics' metadata (``imgsz`` "[640, 640]" or "640", ``batch``)."""
    sides = [int(v) for v in re.findall(r"\d+", metadata.get("imgsz", ""))]
    if len(sides) not in (1, 2) or not all(sides):
        return None
    batch = metadata.get("batch", "")
    return sides[0], sides[-1], int(batch) if batch.isdigit() and int(batch) > 0 else None


def with_example_shapes(specs: Sequence[InputSpec], metadata: Mapping[str, str]) -> tuple[list[InputSpec], list[str]]:
    """``specs`` with ``example_shape`` set on the image inputs whose height and width are dynamic, and a
    warning for each."""
    found = _metadata_size(metadata)
    out, warnings = [], []
    for spec in specs:
        axes = _spatial_axes(spec)
        if axes is None:
            out.append(spec)
            continue
        height, width, batch = found or (IMAGE_SIZE, IMAGE_SIZE, None)
        sizes = {axes[0]: height, axes[1]: width, 0: batch or 1}
        shape = tuple(d if isinstance(d, int) else sizes.get(i, 1) for i, d in enumerate(spec.shape))
        out.append(replace(spec, example_shape=shape))
        why = "the model's metadata (imgsz)" if found else "an image input's usual size"
        warnings.append(f"generated inputs size image input '{spec.name}' {'x'.join(map(str, shape))}, from {why}; "
                        "pass --input-shape for the size the model is meant for")
    return out, warnings


def sized_dims(specs: Sequence[InputSpec]) -> list[str]:
    """Each dynamic axis that generated inputs sized for want of a shape, as ``name[axis]=label (size)``."""
    dims = []
    for spec in specs:
        for i, d in enumerate(spec.shape or ()):
            if not isinstance(d, int):
                size = spec.example_shape[i] if spec.example_shape else 1
                dims.append(f"{spec.name}[{i}]" + (f"={d}" if isinstance(d, str) else "") + f" ({size})")
    return dims
