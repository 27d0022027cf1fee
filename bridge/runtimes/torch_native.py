"""Runners for PyTorch's deployable formats: torch.export (.pt2), AOTInductor packages, TorchScript."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from bridge.errors import UsageError, first_line
from bridge.model import InputSpec
from bridge.runtimes.base import Runner
from bridge.runtimes.torch_eager import TorchRunner, set_torch_threads, torch_device

__all__ = ["ExportedProgramRunner", "AotInductorRunner", "TorchScriptRunner"]

NAMES_FILE = "bridge.json"


class _FlatTorchRunner(Runner):
    """Calls a loaded callable with positional tensors; it returns a flat tuple of outputs."""

    def _setup(self, fn: Any, names: dict[str, Any], device: str) -> None:
        self._fn = fn
        self._device = torch_device(device)
        inputs = names.get("inputs") or []
        super().__init__([InputSpec(n, None, "") for n in inputs], list(names.get("outputs") or []), device)  # type: ignore[arg-type]

    def run(self, feeds: Any) -> dict[str, Any]:
        if not self.input_specs:  # no stored names: inputs in the order given
            self.input_specs = [InputSpec(n, None, "") for n in feeds]  # type: ignore[arg-type]
        return super().run(feeds)

    def _run(self, feeds: dict[str, Any]) -> dict[str, Any]:
        import numpy as np
        import torch

        args = [torch.from_numpy(np.array(v, copy=True)).to(self._device) for v in feeds.values()]
        with torch.inference_mode():
            result = self._fn(*args)
        if isinstance(result, torch.Tensor):
            result = (result,)
        names = self.output_names or [f"output_{i}" for i in range(len(result))]
        return {n: t.detach().cpu().numpy() for n, t in zip(names, result)}


class ExportedProgramRunner(TorchRunner):
    """A .pt2 loaded the way a .pt2 SOURCE is (names and all), run like eager torch."""

    runtime = "torch.export"

    def __init__(self, target: Any, device: str = "cpu", threads: int | None = None) -> None:
        from bridge.sources import load_source

        super().__init__(load_source(Path(target.path)), device, threads)


class AotInductorRunner(_FlatTorchRunner):
    runtime = "aotinductor"

    def __init__(self, target: Any, device: str = "cpu", threads: int | None = None) -> None:
        set_torch_threads(threads)
        import torch._inductor

        path = Path(target.path)
        names: dict[str, Any] = {}
        try:
            with zipfile.ZipFile(path) as package:
                if f"extra/{NAMES_FILE}" in package.namelist():
                    names = json.loads(package.read(f"extra/{NAMES_FILE}"))
            fn = torch._inductor.aoti_load_package(str(path))
        except Exception as exc:
            raise UsageError(f"AOTInductor cannot load {path}: {first_line(exc)}") from exc
        if device == "cuda":
            raise UsageError("--device cuda: this AOTInductor package was compiled for the CPU; convert with --device cuda on a GPU machine")
        self._setup(fn, names, device)


class TorchScriptRunner(_FlatTorchRunner):
    runtime = "torchscript"

    def __init__(self, target: Any, device: str = "cpu", threads: int | None = None) -> None:
        set_torch_threads(threads)
        import torch

        extra = {NAMES_FILE: ""}
        try:
            module = torch.jit.load(str(target.path), map_location=torch_device(device), _extra_files=extra)
        except Exception as exc:
            raise UsageError(f"TorchScript cannot load {target.path}: {first_line(exc)}") from exc
        names = json.loads(extra[NAMES_FILE]) if extra[NAMES_FILE] else {}
        self._setup(module.eval(), names, device)
