"""The runner interface: load an artifact on a device, validate feeds, run, return named outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.errors import UsageError
from bridge.model import InputSpec

__all__ = ["Runner", "validate_feeds"]


class Runner:
    """Runs one model in one runtime. Subclasses set ``runtime`` and implement ``_run``."""

    runtime: str = ""

    def __init__(self, input_specs: list[InputSpec], output_names: list[str], device: str = "cpu") -> None:
        self.input_specs = input_specs
        self.output_names = output_names
        self.device = device

    @property
    def input_names(self) -> list[str]:
        return [s.name for s in self.input_specs]

    def run(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        """Validate ``feeds`` against the declared inputs, run, and return outputs in declared order."""
        validate_feeds(self.input_specs, feeds, self.runtime)
        outputs = self._run({s.name: feeds[s.name] for s in self.input_specs})
        return outputs

    def _run(self, feeds: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError


def validate_feeds(specs: list[InputSpec], feeds: Mapping[str, Any], runtime: str) -> None:
    """Check names, dtypes and ranks/static dims; the message shows what was expected."""
    expected = [s.name for s in specs]
    missing = [n for n in expected if n not in feeds]
    extra = [n for n in feeds if n not in expected]
    if missing or extra:
        raise UsageError(f"{runtime}: feeds {sorted(feeds)} do not match the inputs {expected} (missing {missing}, unexpected {extra})")
    for spec in specs:
        value = feeds[spec.name]
        dtype = str(getattr(value, "dtype", type(value).__name__))
        if spec.dtype and dtype != spec.dtype:
            raise UsageError(f"{runtime}: input '{spec.name}' has dtype {dtype}; expected {spec.dtype}")
        shape = tuple(getattr(value, "shape", ()))
        if spec.shape is None:
            continue
        ok = len(shape) == len(spec.shape) and all(
            not isinstance(want, int) or want == got for want, got in zip(spec.shape, shape)
        )
        if not ok:
            want = "x".join("?" if not isinstance(d, int) else str(d) for d in spec.shape) or "scalar"
            raise UsageError(f"{runtime}: input '{spec.name}' has shape {list(shape)}; expected {want}")
