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
from bridge.verify.compare import Tolerances, compare_output

__all__ = ["Localization", "localize_tf", "module_path"]


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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        if not self.node:
            return f"{self.candidate} vs {self.reference}: all {self.checked} node outputs within tolerance"
        where = f" (module {self.module})" if self.module else ""
        inputs = ", ".join(f"{i['name']} {i['max_abs']:.2e}" for i in self.inputs) or "none"
        return (f"{self.candidate} vs {self.reference}: first divergence at node '{self.node}' ({self.op_type}){where}, "
                f"output '{self.output}' max_abs {self.max_abs:.2e}; its inputs' max_abs: {inputs}")


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


def _ort_all(model: Any, feeds: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
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
    reference = _ort_all(model, feeds, [out for _, out in order])
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
            result.max_abs, result.max_rel = parity.max_abs, parity.max_rel
            result.module = module_path(node)
            result.inputs = [{"name": i, "max_abs": errors.get(i, 0.0)} for i in node.input if i]
            break
    if result.checked == 0:
        raise UsageError(f"{onnx_path}: no intermediate tensor could be compared")
    return result
