"""TensorFlow SavedModel runner (``serving_default`` signature, run as TensorFlow Serving runs it)."""

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
    """Runs ``serving_default`` as TensorFlow Serving does: the SavedModel loaded into a Session (tag
    ``serve``), fed and fetched by the signature's tensor names through one prepared callable.

    Ops run in the caller's thread (``inter_op_parallelism_threads=-1``), as ONNX Runtime's sequential mode
    runs them, and ``threads`` sizes the intra-op pool. A TF2 function call instead hands every op to an
    inter-op pool: on a small model that dispatch, not the arithmetic, is most of the time.
    """

    runtime = "tensorflow"

    def __init__(self, target: Any, device: str = "cpu", threads: int | None = None) -> None:
        tf = import_tensorflow()
        tf_device(device)  # --device cuda where TensorFlow sees no GPU: the one-line error
        config = tf.compat.v1.ConfigProto(allow_soft_placement=True, inter_op_parallelism_threads=-1,
                                          intra_op_parallelism_threads=threads or 0)
        if device == "cpu":
            config.device_count["GPU"] = 0
        path = Path(target.path)
        graph = tf.Graph()
        try:
            with graph.as_default():
                self._session = tf.compat.v1.Session(graph=graph, config=config)
                meta_graph = tf.compat.v1.saved_model.loader.load(self._session, ["serve"], str(path))
        except Exception as exc:
            raise UsageError(f"TensorFlow cannot load the SavedModel {path}: {first_line(exc)}") from exc
        signature = meta_graph.signature_def.get("serving_default")
        if signature is None:
            raise UsageError(f"{path} has no serving_default signature")
        meta = read_name_map(path)
        in_map = dict(meta["inputs"]) if meta else {k: k for k in sorted(signature.inputs)}  # onnx -> signature
        out_map = dict(meta["outputs"]) if meta else {k: k for k in sorted(signature.outputs)}
        specs = [_input_spec(tf, name, signature.inputs[sig]) for name, sig in in_map.items()]
        with graph.as_default():
            self._call = self._session.make_callable([signature.outputs[s].name for s in out_map.values()],
                                                     [signature.inputs[s].name for s in in_map.values()])
        super().__init__(specs, list(out_map), device)

    def _run(self, feeds: dict[str, Any]) -> dict[str, Any]:
        values = self._call(*(feeds[s.name] for s in self.input_specs))
        return {name: _as_text(value) for name, value in zip(self.output_names, values)}


def _input_spec(tf: Any, name: str, info: Any) -> InputSpec:
    shape = info.tensor_shape
    dims = None if shape.unknown_rank else tuple(d.size if d.size >= 0 else None for d in shape.dim)
    return InputSpec(name, dims, tf.as_dtype(info.dtype).name)  # type: ignore[arg-type]


def _as_text(value: Any) -> Any:
    """TF string tensors come back as bytes; ONNX strings are UTF-8 text, as ORT returns them."""
    import numpy as np

    if isinstance(value, np.ndarray) and value.dtype == object and value.size and isinstance(value.flat[0], bytes):
        return np.vectorize(lambda b: b.decode("utf-8", "replace"), otypes=[object])(value)
    return value
