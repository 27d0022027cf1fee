"""Checks on ONNX external data before a single byte of it is read.

ONNX has had a run of path-traversal and symlink bugs in external data (CVE-2022-25882, CVE-2024-27318,
CVE-2025-51480, ...). We refuse locations that are absolute, climb out of the model's folder, pass
through a symlink, point at a hard-linked file, or whose offset/length fall outside the file; unknown
keys are an error.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from bridge.errors import UsageError
from bridge.onnx_graphs import walk_graphs

__all__ = ["check_external_data", "external_tensors"]

_KNOWN_KEYS = {"location", "offset", "length", "checksum", "basepath"}


def external_tensors(graph: Any) -> Iterator[Any]:
    """Every TensorProto stored externally: initializers and attribute tensors, in subgraphs too."""
    import onnx

    for g in walk_graphs(graph):
        tensors = list(g.initializer)
        for node in g.node:
            for attr in node.attribute:
                tensors += [attr.t] if attr.type == onnx.AttributeProto.TENSOR else list(attr.tensors)
        yield from (t for t in tensors if t.data_location == onnx.TensorProto.EXTERNAL)


def _expected_bytes(tensor: Any) -> int | None:
    import numpy as np
    import onnx

    try:
        itemsize = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
    except Exception:
        return None
    count = 1
    for d in tensor.dims:
        count *= int(d)
    return count * itemsize


def _check_location(location: str, base: Path, name: str) -> Path:
    if not location:
        raise UsageError(f"external data of tensor '{name}' has no location")
    if "\x00" in location:
        raise UsageError(f"external data location of '{name}' contains a NUL byte")
    for flavour in (PurePosixPath(location), PureWindowsPath(location)):
        if flavour.is_absolute() or flavour.anchor:
            raise UsageError(f"external data of '{name}' points at an absolute path '{location}'; refused")
        if ".." in flavour.parts:
            raise UsageError(f"external data of '{name}' climbs out of the model folder ('{location}'); refused")
    # Walk every component so that a symlinked folder on the way is refused too.
    current = base
    for part in PurePosixPath(location.replace("\\", "/")).parts:
        current = current / part
        if current.is_symlink():
            raise UsageError(f"external data of '{name}' passes through a symlink ({current}); refused")
    if not current.exists():
        raise UsageError(f"external data file '{location}' of tensor '{name}' is missing next to the model")
    info = os.lstat(current)
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"external data of '{name}' is not a regular file ({current}); refused")
    if info.st_nlink > 1:
        raise UsageError(f"external data file {current} of '{name}' is hard-linked elsewhere; refused")
    return current


def check_external_data(model: Any, base_dir: str | Path) -> None:
    """Validate every external-data reference of ``model`` relative to ``base_dir``; read nothing."""
    base = Path(base_dir).resolve()
    for tensor in external_tensors(model.graph):
        entries = {e.key: e.value for e in tensor.external_data}
        unknown = set(entries) - _KNOWN_KEYS
        if unknown:
            raise UsageError(f"tensor '{tensor.name}' has unknown external-data keys {sorted(unknown)}; refused")
        path = _check_location(entries.get("location", ""), base, tensor.name)
        try:
            offset = int(entries.get("offset", 0))
            length = int(entries["length"]) if "length" in entries else None
        except ValueError:
            raise UsageError(f"external data offset/length of '{tensor.name}' are not integers") from None
        size = path.stat().st_size
        expected = _expected_bytes(tensor)
        if length is None:
            length = size - offset if expected is None else expected
        if offset < 0 or length < 0 or offset + length > size:
            raise UsageError(f"external data of '{tensor.name}' (offset {offset}, length {length}) falls outside "
                             f"{path.name} ({size} bytes); refused")
        if expected is not None and length != expected:
            raise UsageError(f"external data of '{tensor.name}' holds {length} bytes; its shape and type need {expected}")
