"""ONNX Runtime runner; the execution provider follows the device."""

from __future__ import annotations

from typing import Any

from bridge.errors import UsageError, first_line
from bridge.onnx_io import onnx_dtype_name
from bridge.model import InputSpec
from bridge.runtimes.base import Runner

__all__ = ["OnnxRuntimeRunner", "ort_providers"]


def ort_providers(device: str) -> list[str]:
    import onnxruntime as ort

    if device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise UsageError("--device cuda: this onnxruntime build has no CUDA provider; install onnxruntime-gpu or use --device cpu")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxRuntimeRunner(Runner):
    runtime = "onnxruntime"

    def __init__(self, target: Any, device: str = "cpu", threads: int | None = None, spin: bool = True) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors reach the user as exceptions; keep ORT's C++ log quiet
        if threads:
            options.intra_op_num_threads = threads
        if not spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.add_session_config_entry("session.inter_op.allow_spinning", "0")
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

    def _run(self, feeds: dict[str, Any]) -> dict[str, Any]:
        values = self.session.run(self.output_names, feeds)
        return dict(zip(self.output_names, values))


def _ort_dtype(type_str: str) -> str:
    # "tensor(float)" -> "float32"
    import onnx

    inner = type_str[type_str.find("(") + 1 : -1].upper()
    table = {"FLOAT": "FLOAT", "DOUBLE": "DOUBLE", "FLOAT16": "FLOAT16"}
    try:
        return onnx_dtype_name(onnx.TensorProto.DataType.Value(table.get(inner, inner)))
    except ValueError:
        return ""
