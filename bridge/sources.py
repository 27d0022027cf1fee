"""Load a SOURCE: ``path/to/file.py:NAME``, ``package.module:NAME``, ``model.onnx``, ``model.pt2`` or a
TorchScript file (``torch.jit.save``) or a Caffe ``deploy.prototxt``.

``file.py:NAME`` and ``package.module:NAME`` *run the user's Python code* by design: only point
bridge at code you trust. ONNX, ``.pt2``, TorchScript and Caffe files are data and are loaded without
running pickled code (``torch.jit.load`` compiles the archive's TorchScript, which cannot reach Python).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from typing import Any

from bridge.errors import UsageError
from bridge.input_sizes import with_example_shapes
from bridge.model import Model
from bridge.sources_caffe import CAFFE_SUFFIXES, load_caffe
from bridge.torchscript import TORCHSCRIPT_SUFFIXES, load_torchscript, looks_like_zip

__all__ = ["load_source", "model_from_module", "eval_mode"]


def eval_mode(module: Any) -> Any:
    """``module.eval()``, except for torch.export programs, which are always in the mode they were exported in."""
    try:
        module.eval()
    except NotImplementedError:
        pass
    return module


def load_source(source: Any) -> Model:
    """Resolve ``source`` (a SOURCE string, a path, or a live ``nn.Module``) to a :class:`Model`."""
    if isinstance(source, Model):
        return source
    if not isinstance(source, (str, Path)):
        return model_from_module(source, path=f"<{type(source).__name__} instance>", stem=type(source).__name__)
    text = str(source)
    lower = text.lower()
    if lower.endswith(".onnx"):
        return _load_onnx(Path(text))
    if lower.endswith(".pt2"):
        return _load_pt2(Path(text))
    if lower.endswith(CAFFE_SUFFIXES):
        return load_caffe(Path(text))
    if lower.endswith(".caffemodel"):
        raise UsageError(f"{text} holds Caffe weights; give the deploy.prototxt as SOURCE and --weights {text}")
    if lower.endswith(TORCHSCRIPT_SUFFIXES) or (":" not in text and looks_like_zip(Path(text))):
        if not Path(text).is_file():
            raise UsageError(f"no such file: {text}")
        return load_torchscript(Path(text))
    if ":" not in text:
        raise UsageError(
            f"cannot tell what '{text}' is; give path/to/file.py:NAME, package.module:NAME, model.onnx, model.pt2, "
            "a TorchScript file or deploy.prototxt"
        )
    where, _, name = text.rpartition(":")
    if not where or not name:
        raise UsageError(f"malformed SOURCE '{text}'; expected path/to/file.py:NAME or package.module:NAME")
    module = _import_file(Path(where)) if where.endswith(".py") or "/" in where else _import_module(where)
    if not hasattr(module, name):
        raise UsageError(f"'{where}' has no attribute '{name}'; check the name after the colon")
    return _resolve_name(getattr(module, name), path=text, stem=name)


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    # Deterministic (exporters record it in node metadata): a digest of the path, never hash().
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    mod_name = f"bridge_user_{digest}_{re.sub(r'[^A-Za-z0-9_]', '_', path.stem)}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {path}; is it a Python file?")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    # As for `python file.py`: the file's folder comes first on the import path, so its siblings import.
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # user code: report it, don't crash
        sys.modules.pop(mod_name, None)
        raise UsageError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return module


def _import_module(name: str) -> Any:
    # Like uvicorn or gunicorn: a dotted source resolves from the current folder too.
    cwd = str(Path.cwd())
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise UsageError(f"no module named '{name}'; is it installed or on PYTHONPATH?") from exc
    except Exception as exc:
        raise UsageError(f"importing {name} failed: {type(exc).__name__}: {exc}") from exc


def _resolve_name(obj: Any, path: str, stem: str) -> Model:
    import torch

    example: Any = None
    if isinstance(obj, type):
        if not issubclass(obj, torch.nn.Module):
            raise UsageError(f"'{stem}' is a class but not an nn.Module subclass")
        try:
            module = obj()
        except Exception as exc:
            raise UsageError(f"building {stem}() failed: {type(exc).__name__}: {exc}; it must take no arguments") from exc
    elif isinstance(obj, torch.nn.Module):
        module = obj
    elif callable(obj):
        try:
            made = obj()
        except Exception as exc:
            raise UsageError(f"calling {stem}() failed: {type(exc).__name__}: {exc}") from exc
        if isinstance(made, tuple) and len(made) == 2 and isinstance(made[0], torch.nn.Module):
            module, example = made
        elif isinstance(made, torch.nn.Module):
            module = made
        else:
            raise UsageError(f"{stem}() returned {type(made).__name__}; it must return an nn.Module or (module, example_inputs)")
    else:
        raise UsageError(
            f"'{stem}' is a {type(obj).__name__}, not an nn.Module; name a module class, instance or factory function"
        )
    return model_from_module(module, path=path, stem=stem, example_inputs=example)


def model_from_module(module: Any, path: str, stem: str, example_inputs: Any = None,
                      input_names: list[str] | None = None) -> Model:
    """Wrap a live module. Example inputs come from the factory or the module's ``example_inputs()``."""
    import torch

    if not isinstance(module, torch.nn.Module):
        raise UsageError(f"{type(module).__name__} is not an nn.Module")
    eval_mode(module)
    if example_inputs is None and callable(getattr(module, "example_inputs", None)):
        example_inputs = module.example_inputs()
    if example_inputs is not None:
        if isinstance(example_inputs, (torch.Tensor,)) or hasattr(example_inputs, "shape"):
            example_inputs = (example_inputs,)
        example_inputs = tuple(example_inputs)
    names = input_names or forward_input_names(module, len(example_inputs) if example_inputs is not None else None)
    example = None
    if example_inputs is not None:
        example = {n: _to_numpy(t) for n, t in zip(names, example_inputs)}
    return Model(format="torch", handle=module, path=path, stem=stem, input_names=names, example_inputs=example)


def forward_input_names(module: Any, count: int | None) -> list[str]:
    """Input names from ``forward``'s positional parameters (required ones, or ``count`` of them)."""
    params = [
        p
        for p in inspect.signature(module.forward).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if count is None:
        params = [p for p in params if p.default is p.empty]
        return [p.name for p in params]
    names = [p.name for p in params[:count]]
    names += [f"in_{i}" for i in range(len(names), count)]
    return names


def _to_numpy(value: Any) -> Any:
    import numpy as np

    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _load_onnx(path: Path) -> Model:
    from bridge.onnx_io import load_onnx_checked, onnx_input_specs

    warnings: list[str] = []
    model = load_onnx_checked(path, load_external_data=False, warnings=warnings)  # weights stay on disk
    specs, sized = with_example_shapes(onnx_input_specs(model), {p.key: p.value for p in model.metadata_props})
    return Model(
        format="onnx",
        handle=path,
        path=str(path),
        stem=path.stem,
        input_names=[s.name for s in specs],
        output_names=[o.name for o in model.graph.output],
        input_specs=specs,
        warnings=warnings,
        input_notes=sized,
    )


def _load_pt2(path: Path) -> Model:
    """A torch.export ExportedProgram as a torch source: its module, example inputs and, when bridge wrote
    it, the original input and output names. Loading a .pt2 runs no pickled code."""
    import json

    import torch

    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    extra = {"bridge.json": ""}
    try:
        program = torch.export.load(str(path), extra_files=extra)
    except Exception as exc:
        raise UsageError(f"{path} is not a loadable torch.export program ({type(exc).__name__}); re-export it") from exc
    names = json.loads(extra["bridge.json"]) if extra["bridge.json"] else {}
    user_inputs = [s.arg.name for s in program.graph_signature.input_specs if s.kind.name == "USER_INPUT"]
    input_names = names.get("inputs") or user_inputs
    module = _NamedOutputs(program.module(), names.get("outputs", []))
    example = program.example_inputs[0] if program.example_inputs else None
    return model_from_module(module, path=str(path), stem=path.stem, example_inputs=example, input_names=input_names)


def _named_outputs_class() -> Any:
    import torch

    class NamedOutputs(torch.nn.Module):
        """Gives a flat-tuple program its recorded output names back."""

        def __init__(self, inner: Any, names: list[str]) -> None:
            super().__init__()
            self.inner, self.names = inner, names

        def train(self, mode: bool = True) -> Any:  # the exported program has no train/eval switch
            return self

        def forward(self, *args: Any) -> Any:
            out = self.inner(*args)
            if self.names and isinstance(out, (tuple, list)) and len(out) == len(self.names):
                return dict(zip(self.names, out))
            return out

    return NamedOutputs


def _NamedOutputs(inner: Any, names: list[str]) -> Any:  # noqa: N802 - a class factory, kept lazy for torch
    return _named_outputs_class()(inner, names)
