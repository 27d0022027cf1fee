"""torch -> PyTorch's own deployable formats: torch.export (.pt2), AOTInductor packages, TorchScript (legacy).

Each artifact stores bridge's input/output names inside itself (``extra_files``) so that a runner can
report outputs under the source's names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bridge._frameworks import quiet_torch_onnx_logs
from bridge.model import Artifact, ConvertOptions
from bridge.outputs import flatten_outputs
from bridge.registry import converter
from bridge_converters.torch_onnx import dynamic_shapes_for, flat_module

__all__ = ["torch_to_pt2", "torch_to_aoti", "torch_to_torchscript", "NAMES_FILE"]

NAMES_FILE = "bridge.json"


def _prepare(source: Any, options: ConvertOptions) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    import torch

    quiet_torch_onnx_logs()
    names = list(source.input_names)
    args = tuple(torch.from_numpy(options.feeds[n].copy()) for n in names)
    with torch.inference_mode():
        output_names = [name for name, _ in flatten_outputs(source.handle(*args))]
    return flat_module(source.handle), args, {"inputs": names, "outputs": output_names}


def _export(wrapper: Any, args: tuple[Any, ...], names: dict[str, Any], options: ConvertOptions) -> Any:
    import torch

    dynamic = dynamic_shapes_for(names["inputs"], options.dynamic, named=False)
    return torch.export.export(wrapper, args, dynamic_shapes=dynamic, strict=False)


def _artifact(fmt: str, path: Path, name: str, names: dict[str, Any]) -> Artifact:
    return Artifact(format=fmt, path=path, converter=name, input_names=names["inputs"], output_names=names["outputs"],
                    meta=dict(names))


@converter(source="torch", target="pt2", name="torch.export")
def torch_to_pt2(source: Any, out_path: Path, options: ConvertOptions) -> Artifact:
    import torch

    wrapper, args, names = _prepare(source, options)
    program = _export(wrapper, args, names, options)
    torch.export.save(program, str(out_path), extra_files={NAMES_FILE: json.dumps(names)})
    return _artifact("pt2", out_path, "torch.export", names)


@converter(source="torch", target="aoti", name="AOTInductor")
def torch_to_aoti(source: Any, out_path: Path, options: ConvertOptions) -> Artifact:
    import zipfile

    import torch._inductor

    wrapper, args, names = _prepare(source, options)
    program = _export(wrapper, args, names, options)
    torch._inductor.aoti_compile_and_package(program, package_path=str(out_path))
    # The package is a zip; an extra member does not disturb aoti_load_package.
    with zipfile.ZipFile(out_path, "a") as package:
        package.writestr(f"extra/{NAMES_FILE}", json.dumps(names))
    return _artifact("aoti", out_path, "AOTInductor", names)


@converter(source="torch", target="torchscript", name="torch.jit.trace")
def torch_to_torchscript(source: Any, out_path: Path, options: ConvertOptions) -> Artifact:
    import warnings

    import torch

    wrapper, args, names = _prepare(source, options)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(wrapper, args, check_trace=False)
    torch.jit.save(traced, str(out_path), _extra_files={NAMES_FILE: json.dumps(names)})
    return _artifact("torchscript", out_path, "torch.jit.trace", names)
