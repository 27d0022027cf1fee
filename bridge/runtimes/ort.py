"""ONNX Runtime runner; the execution provider follows the device."""

from __future__ import annotations

from typing import Any

from bridge.errors import UsageError, first_line
from bridge.onnx_io import onnx_dtype_name
from bridge.model import InputSpec
from bridge.runtimes.base import Runner

__all__ = ["OnnxRuntimeRunner", "ort_providers", "densify_maps"]


def ort_providers(device: str) -> list[str]:
    import onnxruntime as ort

    if device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise UsageError("--device cuda: this onnxruntime build has no CUDA provider; install onnxruntime-gpu or use --device cpu")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxRuntimeRunner(Runner):
    runtime = "onnxruntime"

    def __init__(self, target: Any, device: str = "cpu", threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors reach the user as exceptions; keep ORT's C++ log quiet
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(target.path), options, providers=ort_providers(device))
        except UsageError:
            raise
        except Exception as exc:
            raise UsageError(f"onnxruntime cannot load {target.path}: {first_line(exc)}") from exc
        specs = [
            InputSpec(i.name, tuple(d if isinstance(d, int) else None for d in i.shape), _ort_dtype(i.type))
            for i in self.session.get_inputs()
        ]
        super().__init__(specs, [o.name for o in self.session.get_outputs()], device)
        maps = [o.name for o in self.session.get_outputs() if o.type.startswith("seq(map(")]
        self._map_keys = _zipmap_labels(target.path, maps) if maps else {}

    def _run(self, feeds: dict[str, Any]) -> dict[str, Any]:
        values = self.session.run(self.output_names, feeds)
        return {name: densify_maps(value, self._map_keys.get(name)) for name, value in zip(self.output_names, values)}


def densify_maps(value: Any, keys: list[Any] | None = None) -> Any:
    """A sequence of maps with the same keys (ai.onnx.ml ZipMap: one {label: probability} per row) as the
    dense [rows, labels] array, which is how the converted TF graph carries it: columns in the order of
    ``keys`` (ZipMap's class labels), else of the first map. Anything else is returned unchanged."""
    import numpy as np

    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        return value
    if not value:
        return np.zeros((0, len(keys or [])), np.float32)
    keys = list(keys) if keys is not None else list(value[0])
    if any(set(v) != set(keys) for v in value):
        return value
    return np.array([[v[k] for k in keys] for v in value], dtype=np.float32)


def _zipmap_labels(path: Any, outputs: list[str]) -> dict[str, list[Any]]:
    """The class labels of the ZipMap nodes that make the graph outputs ``outputs``, in column order."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # ORT loaded it; without labels the maps keep their own key order
        return {}
    labels: dict[str, list[Any]] = {}
    for node in model.graph.node:
        if node.op_type == "ZipMap" and node.output and node.output[0] in outputs:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            keys = attrs.get("classlabels_int64s")
            if keys is None:
                keys = [k.decode() for k in attrs.get("classlabels_strings", [])]
            labels[node.output[0]] = list(keys)
    return labels


def _ort_dtype(type_str: str) -> str:
    # "tensor(float)" -> "float32"
    import onnx

    inner = type_str[type_str.find("(") + 1 : -1].upper()
    table = {"FLOAT": "FLOAT", "DOUBLE": "DOUBLE", "FLOAT16": "FLOAT16"}
    try:
        return onnx_dtype_name(onnx.TensorProto.DataType.Value(table.get(inner, inner)))
    except ValueError:
        return ""
