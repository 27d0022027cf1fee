"""TFLite runner through ai-edge-litert (LiteRT), using the ``serving_default`` signature.

An integer input or output with a scale (``--int8-io`` artifacts) takes and gives floats: the runner
quantizes feeds and dequantizes results with the scale and zero point the artifact declares in bridge's
metadata entry (or, for a model from elsewhere, in the tensor's own quantization parameters).
"""

from __future__ import annotations

from typing import Any

from bridge.errors import UsageError, first_line
from bridge.model import InputSpec
from bridge.names import sanitize_names
from bridge.runtimes.base import Runner

__all__ = ["TfLiteRunner"]


class TfLiteRunner(Runner):
    runtime = "tflite"

    def __init__(self, target: Any, device: str = "cpu", threads: int | None = None) -> None:
        if device != "cpu":
            raise UsageError("--device cuda: the TFLite runner runs on the CPU only; use --device cpu for .tflite")
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise UsageError("running .tflite needs ai-edge-litert; pip install ai-edge-litert") from exc
        self._path, self._threads = str(target.path), threads
        try:
            self._interpreter = Interpreter(model_path=self._path, num_threads=threads)
            signatures = self._interpreter.get_signature_list()
        except Exception as exc:
            raise UsageError(f"LiteRT cannot load {target.path}: {first_line(exc)}") from exc
        self._key = "serving_default" if "serving_default" in signatures else next(iter(signatures), None)
        if self._key is None:
            raise UsageError(f"{target.path} has no signature; convert it from a SavedModel with a serving signature")
        self._runner = self._interpreter.get_signature_runner(self._key)
        details = self._runner.get_input_details()
        meta = getattr(target, "meta", {}) or {}
        # Signature names are the sanitised ONNX names; map them back where the converter recorded the map.
        self._in_map = {k: v for k, v in meta.get("inputs", {}).items() if v in details} or {n: n for n in details}
        out_map = {k: v for k, v in meta.get("outputs", {}).items()}
        self._out_map = out_map or {n: n for n in self._runner.get_output_details()}
        self._in_q = _quantized_io(details, meta.get("input_quantization"))
        self._out_q = _quantized_io(self._runner.get_output_details(), meta.get("output_quantization"))
        specs = []
        for name, sig in self._in_map.items():
            d = details[sig]
            shape = tuple(int(s) if s >= 0 else None for s in d.get("shape_signature", d["shape"]))
            specs.append(InputSpec(name, shape, "float32" if sig in self._in_q else _np_name(d["dtype"])))
        super().__init__(specs, list(self._out_map), device)

    def run(self, feeds: Any) -> dict[str, Any]:
        # Accept the source's names too: sanitise them the way the SavedModel did.
        if set(feeds) != set(self._in_map):
            aliases = sanitize_names(list(feeds))
            inverse = {v: k for k, v in self._in_map.items()}
            feeds = {inverse.get(aliases[k], k): v for k, v in feeds.items()}
        return super().run(feeds)

    def _run(self, feeds: dict[str, Any]) -> dict[str, Any]:
        kwargs = {self._in_map[n]: v for n, v in feeds.items()}
        for sig, (scale, zero, dtype) in self._in_q.items():
            kwargs[sig] = _quantize(kwargs[sig], scale, zero, dtype)
        try:
            result = self._runner(**kwargs)
        except RuntimeError as exc:
            if "Select TensorFlow op" in str(exc):
                raise UsageError("this .tflite uses TF ops through the Flex delegate, which the ai-edge-litert package "
                                 "does not ship; run it where the Flex delegate is linked") from exc
            if "XNNPack" not in str(exc) or self.runtime != "tflite":
                raise
            self._without_xnnpack()
            result = self._runner(**kwargs)
        for sig, (scale, zero, _dtype) in self._out_q.items():
            result[sig] = ((result[sig].astype("float32") - zero) * scale).astype("float32")
        return {name: result[sig] for name, sig in self._out_map.items()}

    def _without_xnnpack(self) -> None:
        """LiteRT's default XNNPACK delegate refuses some graphs at run time (e.g. dynamic reshapes); the
        builtin kernels run them. The runtime is then reported as such."""
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self._interpreter = Interpreter(model_path=self._path, num_threads=self._threads,
                                        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self._runner = self._interpreter.get_signature_runner(self._key)
        self.runtime = "tflite (builtin kernels)"


def _quantized_io(details: dict[str, Any], declared: dict[str, Any] | None) -> dict[str, tuple[float, int, Any]]:
    """Signature name -> (scale, zero point, integer dtype) for the integer tensors that carry a scale."""
    import numpy as np

    found = {}
    for sig, d in details.items():
        scale, zero = d.get("quantization", (0.0, 0))
        if np.dtype(d["dtype"]).kind not in "iu" or not scale:
            continue
        if declared and sig in declared:
            scale, zero = declared[sig]["scale"], declared[sig]["zero_point"]
        found[sig] = (float(scale), int(zero), np.dtype(d["dtype"]))
    return found


def _quantize(value: Any, scale: float, zero: int, dtype: Any) -> Any:
    import numpy as np

    info = np.iinfo(dtype)
    q = np.round(np.asarray(value, dtype=np.float32) / np.float32(scale)) + zero
    return np.clip(q, info.min, info.max).astype(dtype)


def _np_name(dtype: Any) -> str:
    import numpy as np

    return str(np.dtype(dtype))
