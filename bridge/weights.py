"""Load trained weights into the module a SOURCE builds, without running code from the weights file.

``.safetensors`` is preferred. ``.pt``/``.pth``/``.bin`` state dicts load only through
``torch.load(weights_only=True)``; a pickle holding anything else (a whole pickled model, custom classes)
is refused unless the user passes ``--trust-pickle``, which runs the pickle's code by design.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bridge.errors import UsageError

__all__ = ["load_weights", "read_state_dict"]


def read_state_dict(path: str | Path, trust_pickle: bool = False) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no such weights file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path), device="cpu"))
        except (SafetensorError, OSError, ValueError) as exc:
            raise UsageError(f"{path} is not a readable safetensors file ({exc})") from exc
    if suffix not in (".pt", ".pth", ".bin", ".ckpt"):
        raise UsageError(f"unknown weights format '{suffix}'; use .safetensors (preferred) or a .pt/.pth state dict")
    import pickle

    import torch

    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as exc:
        raise UsageError(
            f"{path} holds pickled objects beyond tensors (a whole pickled model?) and was not loaded; "
            "re-save it with torch.save(model.state_dict()) or safetensors, or pass --trust-pickle if you trust "
            "its author (loading it runs code)"
        ) from exc
    except Exception as exc:
        raise UsageError(f"{path} is not a readable torch checkpoint ({type(exc).__name__})") from exc
    if isinstance(loaded, torch.nn.Module):
        loaded = loaded.state_dict()
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
            break
    if not isinstance(loaded, Mapping) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise UsageError(f"{path} is not a state dict of tensors; save model.state_dict()")
    return dict(loaded)


def load_weights(module: Any, path: str | Path, trust_pickle: bool = False) -> None:
    """Load a state dict into ``module``; missing or unexpected keys and shape mismatches are errors."""
    state = read_state_dict(path, trust_pickle)
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        first = str(exc).strip().splitlines()
        detail = next((line.strip() for line in first[1:] if line.strip()), first[0] if first else "")
        raise UsageError(f"{path} does not fit the model: {detail}") from exc
    problems = []
    if result.missing_keys:
        problems.append(f"missing {_few(result.missing_keys)}")
    if result.unexpected_keys:
        problems.append(f"unexpected {_few(result.unexpected_keys)}")
    if problems:
        raise UsageError(f"{path} does not fit the model: {'; '.join(problems)}")


def _few(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit])
    return f"{shown} (+{len(keys) - limit} more)" if len(keys) > limit else shown
