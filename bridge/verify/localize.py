"""Find the first ONNX node, in topological order, whose output leaves tolerance between ONNX Runtime and
our TensorFlow conversion, with every intermediate tensor exposed on both sides."""

from __future__ import annotations

import ast
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bridge.errors import UsageError
from bridge.model import Artifact, ConvertOptions
from bridge.sources_caffe import CAFFE_LAYER_KEY
from bridge.verify.compare import Tolerances, compare_output

__all__ = ["Localization", "localize_tf", "localize_onnx", "module_path", "ort_with_outputs"]


@dataclass
class Localization:
    """Where parity first breaks inside the graph. ``node`` is empty when every node stays in tolerance."""

    candidate: str
    reference: str
    checked: int
    node: str = ""
    op_type: str = ""
    output: str = ""
    max_abs: float = 0.0
    max_rel: float = 0.0
    module: str = ""
    inputs: list[dict[str, Any]] = field(default_factory=list)
    layer: str = ""  # the Caffe layer, for models converted from Caffe
    hint: str = ""  # a known cause on the reference's side, when one applies
    problem: str = ""  # why the output failed when its numbers don't say (shapes differ, NaN against numbers)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        if not self.node:
            return f"{self.candidate} vs {self.reference}: all {self.checked} node outputs within tolerance"
        where = f" (module {self.module})" if self.module else f" (Caffe layer {self.layer})" if self.layer else ""
        inputs = ", ".join(f"{i['name']} {i['max_abs']:.2e}" for i in self.inputs) or "none"
        hint = f"; {self.hint}" if self.hint else ""
        error = self.problem or f"max_abs {self.max_abs:.2e}"
        return (f"{self.candidate} vs {self.reference}: first divergence at node '{self.node}' ({self.op_type}){where}, "
                f"output '{self.output}' {error}; its inputs' max_abs: {inputs}{hint}")


_INTEGER_PRODUCTS = {"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "MatMulIntegerToFloat"}


def cpu_has_vnni() -> bool:
    """Whether this x86 CPU has an int8 dot-product instruction (AVX-VNNI, AVX512-VNNI, AMX); True elsewhere."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return True
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


def ort_saturation_hint(op_type: str, data_dtype: Any) -> str:
    """Why ONNX Runtime itself may be off at an integer product: without VNNI its uint8 x int8 kernels add
    neighbouring products into saturating int16 (vpmaddubsw) before the int32 sum."""
    import numpy as np

    if op_type not in _INTEGER_PRODUCTS or data_dtype is None or np.dtype(data_dtype) != np.uint8 or cpu_has_vnni():
        return ""
    return ("ONNX Runtime's uint8 x int8 kernels on this CPU (x86 without VNNI) add products in pairs into saturating "
            "int16, so ONNX Runtime itself can stray from the ONNX definition here; a model quantized with "
            "reduce_range=True (7-bit weights) avoids it")


def module_path(node: Any) -> str:
    """The PyTorch module that produced ``node``, from the exporter's metadata or its node name."""
    meta = {p.key: p.value for p in node.metadata_props}
    scopes = meta.get("pkg.torch.onnx.name_scopes")
    if scopes:
        try:
            parts = [p for p in ast.literal_eval(scopes) if p]
        except (ValueError, SyntaxError):
            parts = []
        if len(parts) >= 2:
            return _strip_wrapper(parts[-2])
    if node.name.startswith("/") and node.name.count("/") >= 2:  # TorchScript exporter: /inner/net/net.1/Gemm
        return _strip_wrapper(node.name.strip("/").rsplit("/", 1)[0].split("/")[-1])
    return ""


def _strip_wrapper(path: str) -> str:
    # bridge exports through a FlatOutputs wrapper whose child is "inner"
    return path[len("inner."):] if path.startswith("inner.") else ("" if path == "inner" else path)


def ort_with_outputs(model: Any, feeds: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    """Run ``model`` in ONNX Runtime with ``names`` (any intermediate tensors) added to its outputs."""
    import onnx
    import onnxruntime as ort

    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    present = {o.name for o in exposed.graph.output}
    for name in names:
        if name not in present:
            exposed.graph.output.append(onnx.ValueInfoProto(name=name))
    session = ort.InferenceSession(exposed.SerializeToString(), providers=["CPUExecutionProvider"])
    wanted = [o.name for o in session.get_outputs()]
    return dict(zip(wanted, session.run(wanted, dict(feeds))))


def localize_tf(onnx_path: str | Path, feeds: Mapping[str, Any], tolerances: Tolerances | None = None) -> Localization:
    """Run the ONNX model in ONNX Runtime and through the registry's onnx->tf edge with every node output
    exposed; return the first node whose output leaves tolerance."""
    import onnx

    from bridge.registry import REGISTRY
    from bridge.runtimes import load_runner

    tolerances = tolerances or Tolerances()
    model = onnx.load(str(onnx_path))
    order = [(node, out) for node in model.graph.node for out in node.output if out]
    reference = ort_with_outputs(model, feeds, [out for _, out in order])
    edge = REGISTRY.get("onnx", "tf")
    with tempfile.TemporaryDirectory(prefix="bridge-localize-") as tmp:
        artifact = edge.fn(Artifact(format="onnx", path=Path(onnx_path)), Path(tmp) / "exposed",
                           ConvertOptions(extra={"expose_intermediates": True}))
        candidate = load_runner(artifact).run(dict(feeds))
    result = Localization(candidate="tensorflow", reference="onnxruntime", checked=0)
    errors: dict[str, float] = {}
    for node, out in order:
        if out not in reference or out not in candidate:
            continue
        atol, rtol = tolerances.for_output(out)
        parity = compare_output(out, reference[out], candidate[out], atol, rtol)
        errors[out] = parity.max_abs
        result.checked += 1
        if not parity.passed:
            result.node, result.op_type, result.output = node.name or out, node.op_type, out
            result.max_abs, result.max_rel, result.problem = parity.max_abs, parity.max_rel, parity.reason
            result.module = module_path(node)
            result.layer = next((p.value for p in node.metadata_props if p.key == CAFFE_LAYER_KEY), "")
            result.inputs = [{"name": i, "max_abs": errors.get(i, 0.0)} for i in node.input if i]
            data = reference.get(node.input[0], feeds.get(node.input[0]))
            result.hint = ort_saturation_hint(node.op_type, getattr(data, "dtype", None))
            break
    if result.checked == 0:
        raise UsageError(f"{onnx_path}: no intermediate tensor could be compared")
    return result


def _module_outputs(module: Any, feeds: Mapping[str, Any]) -> dict[str, Any]:
    """Each submodule's output (when it is a single tensor) on ``feeds``, captured with forward hooks."""
    import numpy as np
    import torch

    captured: dict[str, Any] = {}
    hooks = []
    for name, sub in module.named_modules():
        if not name:
            continue

        def hook(_m: Any, _args: Any, out: Any, name: str = name) -> None:
            if isinstance(out, torch.Tensor):
                captured[name] = out.detach().cpu().numpy()

        hooks.append(sub.register_forward_hook(hook))
    try:
        with torch.inference_mode():
            module(*[torch.from_numpy(np.array(v, copy=True)) for v in feeds.values()])
    finally:
        for h in hooks:
            h.remove()
    return captured


def localize_onnx(module: Any, onnx_path: str | Path, feeds: Mapping[str, Any],
                  tolerances: Tolerances | None = None) -> Localization:
    """Compare each PyTorch submodule's output with the ONNX tensor the exporter made for it (the last node
    under that module's scope, by the exporter's metadata), in graph order; name the first that differs."""
    import numpy as np
    import onnx

    tolerances = tolerances or Tolerances()
    model = onnx.load(str(onnx_path))
    nodes = list(model.graph.node)
    last_in_scope: dict[str, int] = {}
    for index, node in enumerate(nodes):
        path = module_path(node)
        while path:
            last_in_scope[path] = index
            path = path.rpartition(".")[0]
    torch_out = _module_outputs(module, feeds)
    # graph order; where a module and its last child end on the same node, the innermost comes first
    ranked = sorted((i, -name.count("."), name) for name, i in last_in_scope.items() if name in torch_out)
    pairs = [(i, name) for i, _, name in ranked]
    reference = ort_with_outputs(model, feeds, [nodes[i].output[0] for i, _ in pairs])
    result = Localization(candidate="onnxruntime", reference="torch", checked=0)
    for index, name in pairs:
        node = nodes[index]
        got = reference.get(node.output[0])
        if got is None or np.shape(got) != torch_out[name].shape:
            continue
        atol, rtol = tolerances.for_output(node.output[0])
        parity = compare_output(name, torch_out[name], got, atol, rtol)
        result.checked += 1
        if not parity.passed:
            result.node, result.op_type, result.output = node.name or node.output[0], node.op_type, node.output[0]
            result.max_abs, result.max_rel, result.module = parity.max_abs, parity.max_rel, name
            break
    return result
