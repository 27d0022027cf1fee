"""Per-layer quantisation error: where in a quantized TFLite model the signal is lost.

The float and the quantized TFLite run side by side on the same samples with every intermediate tensor kept
(LiteRT's ``experimental_preserve_all_tensors``, builtin kernels); each quantized op output is dequantized with
its scale and zero point and matched by name with the float model's tensor (the TFLite converter keeps the
names of the SavedModel's ops; quantize/dequantize glue is matched through to the tensor it carries). Each
layer's SNR is cumulative (the quantized model's tensor against the float model's); the SNR it *loses* is its
inputs' SNR minus its output's. Layers are ranked by SNR lost and mapped back to their ONNX node (our TF name
scopes are the ONNX node names) and the PyTorch module the exporter recorded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["LayerError", "QuantLocalization", "localize_quantized", "MAX_LAYER_SAMPLES"]

MAX_LAYER_SAMPLES = 32  # samples per-layer error is measured on (every tensor of both models is kept)
_CAP = 120.0  # dB standing in for "identical" in arithmetic
_GLUE = {"QUANTIZE", "DEQUANTIZE"}


@dataclass
class LayerError:
    depth: int  # the op's position in the quantized model's execution order
    tensor: str  # the op's output tensor name in the TFLite model
    op: str  # TFLite op, e.g. CONV_2D
    dtype: str  # its output type in the quantized model (int8, float32, ...)
    snr_db: float  # cumulative: the quantized model's tensor against the float model's
    snr_in_db: float  # the lowest SNR among the op's activation inputs (model inputs: 120 dB = exact)
    snr_lost_db: float  # snr_in_db - snr_db
    node: str = ""  # the ONNX node it came from (the earliest, for a fused op)
    op_type: str = ""
    module: str = ""  # the PyTorch module, where the exporter recorded one
    nodes: list[str] = field(default_factory=list)  # every ONNX node fused into this op


@dataclass
class QuantLocalization:
    candidate: str  # e.g. "tflite[int8]"
    reference: str  # "tflite" (the float TFLite)
    samples: int
    layers: list[LayerError] = field(default_factory=list)
    kind: str = "quantized-layers"

    @property
    def ranked(self) -> list[LayerError]:
        """ONNX nodes by the SNR they lose, worst first: a node made into several TFLite ops (a layout
        transpose, a pad, the op) counts once, by its worst op."""
        worst: dict[str, LayerError] = {}
        for layer in self.layers:
            if layer.node and (layer.node not in worst or layer.snr_lost_db > worst[layer.node].snr_lost_db):
                worst[layer.node] = layer
        return sorted(worst.values(), key=lambda l: -l.snr_lost_db)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "candidate": self.candidate, "reference": self.reference, "samples": self.samples,
                "checked": len(self.layers), "worst": [asdict(l) for l in self.ranked[:10]],
                "layers": [asdict(l) for l in self.layers]}

    def describe(self) -> str:
        worst = self.ranked[:3]
        if not worst:
            return f"{self.candidate} vs {self.reference}: no layer could be matched to an ONNX node"
        parts = [f"'{l.node}' ({l.op_type}{', module ' + l.module if l.module else ''}) loses {l.snr_lost_db:.1f} dB "
                 f"({_db(l.snr_in_db)} -> {_db(l.snr_db)})" for l in worst]
        return f"{self.candidate} vs {self.reference} over {self.samples} samples: worst layers " + "; ".join(parts)


def _db(value: float) -> str:
    return "exact" if value >= _CAP else f"{value:.1f} dB"


def _interpreter(path: Path) -> Any:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    return Interpreter(model_path=str(path), experimental_preserve_all_tensors=True,
                       experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)


def _feed(interpreter: Any, batch: Mapping[str, Any], input_map: Mapping[str, str]) -> None:
    """Run the serving signature on ``batch`` (float values; integer inputs with a scale are quantized)."""
    import numpy as np

    from bridge.names import sanitize_names

    runner = interpreter.get_signature_runner("serving_default")
    details = runner.get_input_details()
    aliases = sanitize_names(list(batch))
    kwargs = {}
    for name, value in batch.items():
        sig = input_map.get(name) or aliases[name]
        d = details[sig]
        scale, zero = d["quantization"]
        if np.dtype(d["dtype"]).kind in "iu" and scale:
            info = np.iinfo(d["dtype"])
            value = np.clip(np.round(np.asarray(value, np.float32) / scale) + zero, info.min, info.max)
        kwargs[sig] = np.asarray(value).astype(d["dtype"])
    runner(**kwargs)


def _dequantized(interpreter: Any, detail: Mapping[str, Any]) -> Any:
    import numpy as np

    value = np.asarray(interpreter.get_tensor(detail["index"]))
    q = detail["quantization_parameters"]
    scales, zeros = np.asarray(q["scales"], np.float64), np.asarray(q["zero_points"], np.float64)
    if value.dtype.kind not in "iu" or scales.size == 0:
        return value.astype(np.float64)
    if scales.size == 1:
        return (value.astype(np.float64) - zeros[0]) * scales[0]
    shape = [1] * value.ndim
    shape[int(q["quantized_dimension"])] = -1
    return (value.astype(np.float64) - zeros.reshape(shape)) * scales.reshape(shape)


def localize_quantized(float_path: str | Path, quant_path: str | Path, samples: Sequence[Mapping[str, Any]],
                       candidate: str, onnx_path: str | Path | None = None,
                       input_map: Mapping[str, str] | None = None) -> QuantLocalization:
    """Per-layer SNR of the quantized model ``quant_path`` against the float ``float_path`` over ``samples``."""
    import numpy as np

    from bridge.quantize import onnx_layers, tensor_nodes

    input_map = dict(input_map or {})
    reference, quantized = _interpreter(Path(float_path)), _interpreter(Path(quant_path))
    f_details = {d["name"]: d for d in reference.get_tensor_details()}
    q_tensors = quantized.get_tensor_details()
    ops = quantized._get_ops_details()  # private but stable across tflite_runtime and LiteRT releases
    producer = {i: op for op in ops for i in op["outputs"]}
    consumers: dict[int, list[Any]] = {}
    for op in ops:
        for i in op["inputs"]:
            consumers.setdefault(i, []).append(op)
    fed = {d["index"] for d in quantized.get_input_details()}

    def twin(index: int, seen: int = 0) -> str | None:
        """The float model's tensor carrying the same value (glue ops and renamed outputs pass through)."""
        name = q_tensors[index]["name"]
        if name in f_details or seen > 4:
            return name if name in f_details else None
        op = producer.get(index)
        if op is not None and op["op_name"] in _GLUE:
            return twin(op["inputs"][0], seen + 1)
        after = consumers.get(index, [])
        if len(after) == 1 and after[0]["op_name"] in _GLUE:
            return twin(after[0]["outputs"][0], seen + 1)
        return None

    pairs = {i: twin(i) for op in ops for i in list(op["outputs"]) + list(op["inputs"]) if i >= 0
             and (i in producer or i in fed)}
    pairs = {i: n for i, n in pairs.items() if n is not None and tuple(q_tensors[i]["shape"]) == tuple(f_details[n]["shape"])}
    signal = dict.fromkeys(pairs, 0.0)
    noise = dict.fromkeys(pairs, 0.0)
    used = list(samples)[:max(1, MAX_LAYER_SAMPLES)]
    for batch in used:
        _feed(reference, batch, input_map)
        _feed(quantized, batch, input_map)
        for index, name in pairs.items():
            ref = reference.get_tensor(f_details[name]["index"]).astype(np.float64)
            got = _dequantized(quantized, q_tensors[index])
            signal[index] += float(np.sum(ref**2))
            noise[index] += float(np.sum((ref - got) ** 2))

    def snr(index: int) -> float | None:
        if index not in pairs:
            return None
        if noise[index] == 0:
            return _CAP
        return min(_CAP, 10 * math.log10(signal[index] / noise[index])) if signal[index] else -_CAP

    layers_by_scope: dict[str, Any] = {}
    if onnx_path is not None:
        import onnx

        layers_by_scope = onnx_layers(onnx.load(str(onnx_path), load_external_data=False))
    count = sum(int(np.shape(next(iter(b.values())))[0]) if np.ndim(next(iter(b.values()))) else 1 for b in used)
    result = QuantLocalization(candidate=candidate, reference="tflite", samples=count)
    for depth, op in enumerate(ops):
        outs = [i for i in op["outputs"] if snr(i) is not None]
        if not outs:
            continue
        out = outs[0]
        ins = [snr(i) for i in op["inputs"] if i >= 0 and (i in producer or i in fed)]
        ins = [v for v in ins if v is not None]
        snr_in = min(ins) if ins else _CAP
        detail = q_tensors[out]
        nodes = tensor_nodes(detail["name"], layers_by_scope) if op["op_name"] not in _GLUE else []
        first = nodes[0] if nodes else None
        result.layers.append(LayerError(
            depth=depth, tensor=detail["name"], op=op["op_name"], dtype=str(np.dtype(detail["dtype"])),
            snr_db=round(snr(out), 3), snr_in_db=round(snr_in, 3), snr_lost_db=round(snr_in - snr(out), 3),
            node=first.node if first else "", op_type=first.op_type if first else "", module=first.module if first else "",
            nodes=[n.node for n in nodes]))
    return result
