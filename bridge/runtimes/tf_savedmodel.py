"""TensorFlow SavedModel runner (``serving_default`` signature)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bridge._frameworks import import_tensorflow
from bridge.errors import UsageError, first_line
from bridge.model import InputSpec
from bridge.runtimes.base import Runner

__all__ = ["TensorFlowRunner", "read_name_map", "tf_device"]

NAME_MAP_FILE = "assets.extra/bridge.json"


def read_name_map(path: Path) -> dict[str, Any]:
    """The metadata bridge writes beside a SavedModel: ONNX names -> signature names, in order."""
    meta = Path(path) / NAME_MAP_FILE
    if not meta.is_file():
        return {}
    return json.loads(meta.read_text())


def tf_device(device: str) -> str:
    tf = import_tensorflow()

    if device == "cuda":
        if not tf.config.list_physical_devices("GPU"):
            raise UsageError("--device cuda: TensorFlow sees no GPU; install the full 'tensorflow' package on a GPU machine or use --device cpu")
        return "/GPU:0"
    return "/CPU:0"


class TensorFlowRunner(Runner):
    runtime = "tensorflow"

    def __init__(self, target: Any, device: str = "cpu", threads: int | None = None) -> None:
        tf = import_tensorflow()
        if threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
            except RuntimeError:  # TF fixes its pools at first use; report what it really runs with
                pass
        self._tf_device = tf_device(device)
        path = Path(target.path)
        try:
            with tf.device(self._tf_device):
                self._loaded = tf.saved_model.load(str(path))
        except Exception as exc:
            raise UsageError(f"TensorFlow cannot load the SavedModel {path}: {first_line(exc)}") from exc
        if "serving_default" not in self._loaded.signatures:
            raise UsageError(f"{path} has no serving_default signature")
        self._fn = self._loaded.signatures["serving_default"]
        meta = read_name_map(path)
        _, kwargs = self._fn.structured_input_signature
        if meta:
            self._in_map = dict(meta["inputs"])  # onnx name -> signature name
            self._out_map = dict(meta["outputs"])
        else:
            self._in_map = {k: k for k in sorted(kwargs)}
            self._out_map = {k: k for k in sorted(self._fn.structured_outputs)}
        specs = []
        for onnx_name, sig_name in self._in_map.items():
            spec = kwargs[sig_name]
            dims = tuple(spec.shape.as_list()) if spec.shape.rank is not None else None
            specs.append(InputSpec(onnx_name, dims, spec.dtype.name))  # type: ignore[arg-type]
        super().__init__(specs, list(self._out_map), device)

    def _run(self, feeds: dict[str, Any]) -> dict[str, Any]:
        import tensorflow as tf

        with tf.device(self._tf_device):
            result = self._fn(**{self._in_map[n]: tf.constant(v) for n, v in feeds.items()})
        return {name: _as_text(result[sig].numpy()) for name, sig in self._out_map.items()}


def _as_text(value: Any) -> Any:
    """TF string tensors come back as bytes; ONNX strings are UTF-8 text, as ORT returns them."""
    import numpy as np

    if isinstance(value, np.ndarray) and value.dtype == object and value.size and isinstance(value.flat[0], bytes):
        return np.vectorize(lambda b: b.decode("utf-8", "replace"), otypes=[object])(value)
    return value
