"""TorchScript files (``torch.jit.save``, scripted or traced) as sources.

A TorchScript file is a zip of TorchScript code and tensors; ``torch.jit.load`` compiles that code and runs
no pickled Python, so loading one is as safe as loading an ONNX file. A ``torch.save`` state dict is a zip
too: the two are told apart by their members (TorchScript archives hold ``code/`` and ``constants.pkl``).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from bridge.errors import UsageError, first_line
from bridge.model import InputSpec, Model

__all__ = ["zip_kind", "looks_like_zip", "load_torchscript", "TORCHSCRIPT_SUFFIXES"]

# Suffixes tried as TorchScript when the SOURCE names an existing file (the contents decide).
TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".jit", ".ts", ".torchscript", ".zip")


def looks_like_zip(path: Path) -> bool:
    """An existing file that starts like a zip (a TorchScript file under any name)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def zip_kind(path: Path) -> str:
    """"torchscript", "state_dict", "pt2" or "other" for a zip; "pickle" for a legacy torch.save file;
    "not_zip" for anything else. A truncated or corrupt zip raises UsageError."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:1] == b"\x80":
        return "pickle"
    if head != b"PK\x03\x04":
        return "not_zip"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise UsageError(f"{path} is a damaged zip ({first_line(exc)}); is the file truncated? save it again") from exc
    if broken is not None:
        raise UsageError(f"{path} is a damaged zip (member '{broken}' fails its checksum); save it again")
    parts = [n.split("/", 1)[-1] for n in names]
    if any(p.startswith("code/") for p in parts) and "constants.pkl" in parts:
        return "torchscript"
    if any(p.startswith("models/") for p in parts) or any(p.startswith("serialized_exported_program") for p in parts):
        return "pt2"
    if "data.pkl" in parts:
        return "state_dict"
    return "other"


def _input_names(module: Any) -> list[str]:
    """Forward's arguments after ``self``, from the TorchScript schema."""
    try:
        return [a.name for a in module.forward.schema.arguments[1:]]
    except Exception:  # a traced module without a readable schema: its graph's inputs
        return [i.debugName().split(".")[0] for i in list(module.graph.inputs())[1:]]


def load_torchscript(path: Path) -> Model:
    """A TorchScript file as a torch source; input shapes come from ``--input-shape`` or ``--inputs``."""
    import torch

    kind = zip_kind(path)
    if kind == "state_dict":
        raise UsageError(f"{path} holds weights only (a torch.save state dict), not a model; give the model as "
                         f"path/to/model.py:NAME and these weights with --weights {path}")
    if kind == "pt2":
        raise UsageError(f"{path} is a torch.export program; name it with the .pt2 suffix")
    if kind != "torchscript":
        what = "a pickle (torch.save of a whole object)" if kind == "pickle" else "not a TorchScript zip"
        raise UsageError(f"{path} is {what}; bridge loads TorchScript files written by torch.jit.save, "
                         "or give the model as path/to/model.py:NAME")
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise UsageError(f"torch.jit.load cannot read {path}: {first_line(exc)}; save it again with torch.jit.save") from exc
    module.eval()
    names = _input_names(module)
    return Model(format="torch", handle=module, path=str(path), stem=path.stem.split(".")[0] or path.stem,
                 input_names=names, input_specs=[InputSpec(n, None, "float32") for n in names])  # type: ignore[arg-type]
