"""Walk the layers of a Caffe net through their handlers and assemble the ONNX model."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from bridge.errors import UnsupportedError, UsageError
from bridge.sources_caffe import CAFFE_LAYERS_KEY
from bridge.verify.detections import DETECTIONS_KEY as DETECTIONS
from bridge_converters.caffe_onnx import layers as _layers  # noqa: F401  (registers the handlers)
from bridge_converters.caffe_onnx.context import GraphBuilder, LayerContext
from bridge_converters.caffe_onnx.fold import fold_batchnorm
from bridge_converters.caffe_onnx.net import CaffeNet, attach_weights, read_net, read_weights
from bridge_converters.caffe_onnx.registry import LAYERS

__all__ = ["build_onnx", "walk", "check_supported", "describe_net", "DEFAULT_OPSET", "LAYERS_KEY", "DETECTIONS_KEY"]

DEFAULT_OPSET = 17
LAYERS_KEY = CAFFE_LAYERS_KEY  # model metadata: each Caffe layer and the ONNX tensors of its tops
DETECTIONS_KEY = DETECTIONS  # model metadata: outputs to compare as sets of boxes


def check_supported(net: CaffeNet) -> None:
    """Every layer type the registry lacks, listed at once with counts (exit 3)."""
    missing = Counter(layer.type for layer in net.layers if LAYERS.get(layer.type) is None)
    if missing:
        listing = ", ".join(f"{t} x{n}" for t, n in sorted(missing.items()))
        raise UnsupportedError(f"{net.path}: unsupported Caffe layer types: {listing}", dict(missing))


def walk(net: CaffeNet, dry: bool = False, weights_path: str = "") -> GraphBuilder:
    builder = GraphBuilder(net, dry=dry, weights_path=weights_path)
    for layer in net.layers:
        handler = LAYERS.get(layer.type)
        assert handler is not None  # check_supported ran
        ctx = LayerContext(builder, layer)
        handler.fn(ctx)
        missing = [layer.tops[i] for i in range(len(layer.tops)) if i not in ctx.tops_written]
        if missing:
            raise ctx.fail(f"leaves top(s) {missing} unwritten")
        for i, tensor in ctx.tops_written.items():
            builder.current[layer.tops[i]] = tensor
        builder.layer_tensors.append({"layer": layer.name, "type": layer.type, "folded": list(layer.folded),
                                      "tops": [ctx.tops_written[i] for i in range(len(layer.tops))]})
    return builder


def _value_info(name: str, shape: Any) -> Any:
    from onnx import TensorProto, helper

    dims = [d if d is not None else f"{name}_dim{i}" for i, d in enumerate(shape)]
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def build_onnx(prototxt: str | Path, weights: str | Path | None, opset: int | None = None) -> Any:
    """The ONNX model of ``prototxt`` with the weights of ``weights``."""
    import onnx
    from onnx import helper

    opset = opset or DEFAULT_OPSET
    if opset < 13:
        raise UsageError(f"--opset {opset}: the Caffe importer emits opset 13 or later")
    net = read_net(prototxt)
    check_supported(net)
    if weights is not None:
        attach_weights(net, read_weights(weights))
    fold_batchnorm(net)
    builder = walk(net, weights_path=str(weights or ""))
    outputs = []
    for blob in net.outputs:
        tensor = builder.current[blob]
        if tensor != blob:  # the blob's last version carries another name (it rewrote an input)
            builder.add_node("Identity", [tensor], [blob], f"{blob}/output", "")
            builder.shapes[blob] = builder.shapes[tensor]
            if tensor in builder.detections:
                builder.detections[blob] = builder.detections.pop(tensor)
        outputs.append(_value_info(blob, builder.shapes[blob]))
    graph = helper.make_graph(builder.nodes, net.name, [_value_info(n, builder.shapes[n]) for n in builder.input_names],
                              outputs, initializer=builder.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="bridge caffe_onnx")
    meta = {LAYERS_KEY: json.dumps(builder.layer_tensors)}
    if builder.detections:
        meta[DETECTIONS_KEY] = json.dumps({k: v for k, v in builder.detections.items() if k in net.outputs})
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    _check_shapes(model, builder)
    return model


def _check_shapes(model: Any, builder: GraphBuilder) -> None:
    """Our shape arithmetic against ONNX's own inference: a disagreement is a bug in a handler."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    known = {v.name: v for v in [*inferred.graph.value_info, *inferred.graph.output]}
    for name, ours in builder.shapes.items():
        value = known.get(name)
        if value is None or not value.type.tensor_type.HasField("shape"):
            continue
        dims = value.type.tensor_type.shape.dim
        theirs = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
        if len(theirs) != len(ours) or any(a is not None and b is not None and a != b for a, b in zip(ours, theirs)):
            raise AssertionError(f"tensor {name!r}: bridge computed shape {ours}, ONNX infers {theirs}")


def _writers(net: CaffeNet) -> dict[str, list[Any]]:
    writers: dict[str, list[Any]] = {}
    for layer in net.layers:
        for i, top in enumerate(layer.tops):
            writers[top] = [layer.name, i]
    return writers


def describe_net(prototxt: str | Path) -> dict[str, Any]:
    """Inputs, outputs, layers by type and parameter count of a prototxt, without weights."""
    net = read_net(prototxt)
    types = Counter(layer.type for layer in net.layers)
    info: dict[str, Any] = {
        "name": net.name,
        "inputs": [{"name": n, "shape": list(s), "dtype": "float32"} for n, s in net.inputs],
        "outputs": [{"name": n, "shape": None} for n in net.outputs],
        "layers": dict(types),
        "format": "V1 layers" if any(layer.proto.DESCRIPTOR.name == "V1LayerParameter" for layer in net.layers)
        else "layer",
        "parameters": None,
        "unsupported": {},
        "writers": _writers(net),  # blob -> [layer that writes it last, its top index]
    }
    try:
        check_supported(net)
        builder = walk(net, dry=True)
    except UnsupportedError as exc:
        info["unsupported"] = exc.unsupported
        return info
    info["parameters"] = builder.parameters
    info["outputs"] = [{"name": n, "shape": list(builder.shapes[builder.current[n]])} for n in net.outputs]
    return info
