"""PyTorch eager runner: the reference every artifact is compared with."""

from __future__ import annotations

from typing import Any

from bridge.errors import UsageError
from bridge.model import InputSpec, Model
from bridge.outputs import flatten_outputs
from bridge.runtimes.base import Runner
from bridge.sources import eval_mode

__all__ = ["TorchRunner", "torch_device", "set_torch_threads"]


def set_torch_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def torch_device(device: str) -> Any:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: this torch build sees no CUDA GPU; use --device cpu or install a CUDA build")
    return torch.device(device)


class TorchRunner(Runner):
    runtime = "torch"

    def __init__(self, model: Model, device: str = "cpu", threads: int | None = None) -> None:
        set_torch_threads(threads)
        self.module = model.handle
        self._device = torch_device(device)
        eval_mode(self.module.to(self._device))
        specs = model.input_specs or [InputSpec(n, (), "") for n in model.input_names]
        # Eager torch accepts any shape; validate names only.
        super().__init__([InputSpec(s.name, None, "") for s in specs], list(model.output_names), device)  # type: ignore[arg-type]

    def _run(self, feeds: dict[str, Any]) -> dict[str, Any]:
        import torch

        args = [torch.from_numpy(_writable(v)).to(self._device) for v in feeds.values()]
        with torch.inference_mode():
            result = self.module(*args)
        flat = flatten_outputs(result)
        if not self.output_names:
            self.output_names = [name for name, _ in flat]
        return {name: value.detach().cpu().numpy() for name, value in flat}


def _writable(value: Any) -> Any:
    import numpy as np

    array = np.asarray(value)
    return array if array.flags.writeable else array.copy()
