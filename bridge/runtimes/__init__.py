"""Runners, one per runtime, loaded lazily so importing bridge never imports a framework."""

from __future__ import annotations

import importlib
from typing import Any

from bridge.errors import UsageError
from bridge.runtimes.base import Runner, validate_feeds

__all__ = ["Runner", "validate_feeds", "load_runner", "check_device", "RUNNERS"]

# format -> "module:factory"; each factory is ``(target, device) -> Runner`` where target is a Model or Artifact.
RUNNERS: dict[str, str] = {
    "torch": "bridge.runtimes.torch_eager:TorchRunner",
    "onnx": "bridge.runtimes.ort:OnnxRuntimeRunner",
    "tf": "bridge.runtimes.tf_savedmodel:TensorFlowRunner",
    "tflite": "bridge.runtimes.tflite:TfLiteRunner",
    "pt2": "bridge.runtimes.torch_native:ExportedProgramRunner",
    "aoti": "bridge.runtimes.torch_native:AotInductorRunner",
    "torchscript": "bridge.runtimes.torch_native:TorchScriptRunner",
    "caffe": "bridge.runtimes.caffe:CaffeRunner",
}


def check_device(device: str) -> None:
    """Refuse an unknown device, or cuda where torch sees no GPU, before any work is done."""
    if device not in ("cpu", "cuda"):
        raise UsageError(f"unknown device '{device}'; use cpu or cuda")
    if device == "cuda":
        from bridge.runtimes.torch_eager import torch_device

        torch_device(device)


def load_runner(target: Any, device: str = "cpu", threads: int | None = None) -> Runner:
    """A runner for a Model or Artifact, by its format, on ``device`` ("cpu" or "cuda").

    ``threads`` sets the runtime's intra-op thread count where it has one (None: the runtime's default).
    """
    if device not in ("cpu", "cuda"):
        raise UsageError(f"unknown device '{device}'; use cpu or cuda")
    spec = RUNNERS.get(target.format)
    if spec is None:
        raise UsageError(f"no runner for format '{target.format}' yet; verify one of {sorted(RUNNERS)}")
    module_name, _, attr = spec.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    if threads is not None:
        return factory(target, device, threads=threads)
    return factory(target, device)
