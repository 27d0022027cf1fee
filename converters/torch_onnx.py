"""torch -> onnx with torch.onnx: the dynamo exporter first, the TorchScript-based one as fallback."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any

from bridge._frameworks import quiet_torch_onnx_logs
from bridge.errors import UnsupportedError, first_line
from bridge.model import Artifact, ConvertOptions
from bridge.outputs import flatten_outputs
from bridge.registry import converter

__all__ = ["torch_to_onnx", "flat_module"]

DYNAMO = "torch.onnx (dynamo)"
EXTERNAL_DATA_THRESHOLD = 1 << 30  # bytes of weights above which they go to an external data file
TORCHSCRIPT = "torch.onnx (torchscript)"


def flat_module(module: Any) -> Any:
    """Wrap ``module`` so that it returns its outputs as a flat tuple, in ``flatten_outputs`` order."""
    import torch

    class FlatOutputs(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> tuple[Any, ...]:
            return tuple(t for _, t in flatten_outputs(self.inner(*args)))

    return FlatOutputs(module).eval()


def dynamic_shapes_for(names: list[str], dynamic: dict[str, dict[int, str]], named: bool = True) -> dict[str, Any] | None:
    """torch.export's ``dynamic_shapes`` for ``FlatOutputs.forward(*args)``; axes sharing a label share a Dim."""
    import torch

    if not dynamic:
        return None
    dims: dict[str, Any] = {}

    def dim(label: str) -> Any:
        if not named:
            return torch.export.Dim.DYNAMIC
        return dims.setdefault(label, torch.export.Dim(label))

    return {"args": tuple({axis: dim(label) for axis, label in dynamic.get(n, {}).items()} or None for n in names)}


def _quietly(fn: Any) -> Any:
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


@converter(source="torch", target="onnx", name=DYNAMO)
def torch_to_onnx(source: Any, out_path: Path, options: ConvertOptions) -> Artifact:
    import onnx
    import torch

    quiet_torch_onnx_logs()
    module = source.handle
    names = list(source.input_names)
    args = tuple(torch.from_numpy(options.feeds[n].copy()) for n in names)
    with torch.inference_mode():
        output_names = [name for name, _ in flatten_outputs(module(*args))]
    wrapper = flat_module(module)
    dynamic_axes: dict[str, dict[int, str]] = {k: dict(v) for k, v in options.dynamic.items()}
    common = dict(input_names=names, output_names=output_names, opset_version=options.opset)
    # Protobuf caps a file at 2 GiB: bigger models keep their weights in "<name>.onnx.data" beside it.
    weight_bytes = sum(p.numel() * p.element_size() for p in module.parameters())
    weight_bytes += sum(b.numel() * b.element_size() for b in module.buffers())
    external = weight_bytes > int(options.extra.get("external_data_threshold", EXTERNAL_DATA_THRESHOLD))
    dynamo = dict(dynamo=True, verbose=False, optimize=True, external_data=external)

    errors = []
    used = None
    attempts = [(DYNAMO, dict(dynamo, dynamic_shapes=dynamic_shapes_for(names, dynamic_axes)))]
    if dynamic_axes:  # named dims refuse an example that specialises them (a batch of 1): let torch pick
        attempts.append((DYNAMO, dict(dynamo, dynamic_shapes=dynamic_shapes_for(names, dynamic_axes, named=False))))
    if isinstance(module, torch.jit.ScriptModule):  # a loaded TorchScript file: torch.export cannot take it
        if options.extra.get("trainable"):
            raise UnsupportedError("--trainable needs the Python module (file.py:NAME or package.module:NAME): "
                                   "torch.export, which writes the training-mode graph, cannot take a TorchScript file")
        attempts = []
    attempts.append((TORCHSCRIPT, dict(dynamo=False, dynamic_axes=dynamic_axes or None, do_constant_folding=True)))
    # A ScriptModule is exported as it is (its TorchScript graph, If and Loop included); wrapping it in a
    # Python module would make the exporter trace through it, which a loaded ScriptModule refuses.
    target = module if isinstance(module, torch.jit.ScriptModule) else wrapper
    for exporter, kwargs in attempts:
        try:
            _quietly(lambda kw=kwargs: torch.onnx.export(target, args, str(out_path), **common, **kw))
            onnx.checker.check_model(str(out_path))
            used = exporter
            break
        except Exception as exc:  # each exporter's failure is recorded; both failing is reported below
            errors.append(f"{exporter}: {type(exc).__name__}: {first_line(exc)}")
            Path(out_path).unlink(missing_ok=True)
            Path(f"{out_path}.data").unlink(missing_ok=True)
    if used is None:
        raise UnsupportedError("torch.onnx could not export the model; " + " | ".join(errors))
    model = onnx.load(str(out_path), load_external_data=False)
    meta = {"exporter": used, "opset": next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)}
    if errors:
        meta["fallback_reason"] = errors[0]
    data_file = Path(f"{out_path}.data")
    companions = [data_file] if data_file.exists() else []
    if options.extra.get("trainable"):
        companions.append(export_training_view(module, args, Path(out_path), common, attempts[0][1]["dynamic_shapes"]))
        meta["training_view"] = companions[-1].name
    return Artifact(format="onnx", path=out_path, converter=used, input_names=names, output_names=output_names,
                    meta=meta, companions=companions)


def training_view_path(onnx_path: Path) -> Path:
    return Path(onnx_path).with_suffix(".training.onnx")


def export_training_view(module: Any, args: tuple[Any, ...], out_path: Path, common: dict[str, Any],
                         dynamic_shapes: Any) -> Path:
    """A second export for ``--trainable``: the module in training mode and without graph optimisation, so
    every parameter and buffer is an initializer named after it (the eval export folds BatchNorm into the
    convolutions and drops Dropout) and BatchNormalization and Dropout nodes remain for the TF backend to
    switch by its ``training`` flag. The initializer -> PyTorch name maps go into the model's metadata."""
    import copy
    import json

    import onnx
    import torch

    path = training_view_path(out_path)
    wrapper = flat_module(copy.deepcopy(module)).train()
    try:
        _quietly(lambda: torch.onnx.export(wrapper, args, str(path), dynamo=True, verbose=False, optimize=False,
                                           dynamic_shapes=dynamic_shapes, **common))
    except Exception as exc:
        path.unlink(missing_ok=True)
        raise UnsupportedError(f"--trainable: torch.onnx could not export the training-mode graph: "
                               f"{type(exc).__name__}: {first_line(exc)}") from exc
    model = onnx.load(str(path))
    present = {init.name for init in model.graph.initializer}
    prefix = "inner."  # flat_module's child
    params = {prefix + n: n for n, p in module.named_parameters() if p.requires_grad and prefix + n in present}
    buffers = {prefix + n: n for n, b in module.named_buffers() if b.is_floating_point() and prefix + n in present}
    for key, value in (("bridge.parameters", params), ("bridge.buffers", buffers)):
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=json.dumps(value)))
    onnx.save(model, str(path))
    return path
