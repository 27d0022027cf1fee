"""Read a Caffe net: the ``deploy.prototxt`` (text format) and its ``.caffemodel`` (binary), both through
our own schema, into one list of :class:`Layer` in the TEST phase, with the weights attached by layer name.

Both layer forms are read: ``layer`` (LayerParameter) and the legacy V1 ``layers`` (V1LayerParameter,
whose type is an enum). Inputs come from ``input`` + ``input_dim``, ``input`` + ``input_shape`` or
``Input`` layers. Reading runs no code, and every size is checked before anything is allocated.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.errors import UsageError, first_line
from bridge_converters.caffe_onnx.schema import messages

__all__ = ["Layer", "CaffeNet", "read_net", "read_weights", "attach_weights", "MAX_FILE_BYTES", "blob_array"]

MAX_FILE_BYTES = (2 << 30) - 1  # protobuf cannot parse a message of 2 GiB or more
MAX_PROTOTXT_BYTES = 64 << 20
MAX_BLOB_ELEMENTS = 1 << 31

# Caffe's UpgradeV1LayerType: V1 enum names -> layer type strings.
_V1_NAMES = {
    "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL", "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution", "DATA": "Data",
    "DECONVOLUTION": "Deconvolution", "DROPOUT": "Dropout", "DUMMY_DATA": "DummyData",
    "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise", "EXP": "Exp", "FLATTEN": "Flatten",
    "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output", "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col",
    "IMAGE_DATA": "ImageData", "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct", "LRN": "LRN",
    "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss", "MVN": "MVN",
    "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "SILENCE": "Silence", "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice", "TANH": "TanH",
    "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold",
}


@dataclass
class Layer:
    """One layer of the net. ``proto`` is its LayerParameter or V1LayerParameter; ``blobs`` its weights."""

    name: str
    type: str
    bottoms: list[str]
    tops: list[str]
    proto: Any
    index: int
    blobs: list[Any] | None = None  # BlobProto messages from the .caffemodel (None: not found there)
    folded: list[str] = field(default_factory=list)  # layers folded into this one (BatchNorm, Scale)
    arrays: list[Any] | None = None  # weights a pass computed (folding); used instead of ``blobs``

    def param(self, name: str) -> Any:
        """The ``*_param`` message; its defaults when unset or when the V1 form has no such field."""
        fields = self.proto.DESCRIPTOR.fields_by_name
        if name in fields:
            return getattr(self.proto, name)
        from bridge_converters.caffe_onnx.schema import LAYER_PARAMS

        message = next(m for n, _, _, m in LAYER_PARAMS if n == name)
        return getattr(messages(), message)()

    def has_param(self, name: str) -> bool:
        return name in self.proto.DESCRIPTOR.fields_by_name and self.proto.HasField(name)


@dataclass
class CaffeNet:
    name: str
    path: Path
    inputs: list[tuple[str, tuple[int, ...]]]
    layers: list[Layer]

    @property
    def outputs(self) -> list[str]:
        """Caffe's net outputs: blobs still unconsumed after the last layer (an in-place layer consumes its
        bottom and makes it available again)."""
        available: dict[str, None] = {}
        for layer in self.layers:
            for bottom in layer.bottoms:
                available.pop(bottom, None)
            for top in layer.tops:
                available[top] = None
        return list(available)


def _read_bounded(path: Path, limit: int, what: str) -> bytes:
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    size = os.stat(path).st_size
    if size > limit:
        raise UsageError(f"{path} is {size:,} bytes; a {what} is at most {limit:,} bytes")
    return path.read_bytes()


def _parse_text(path: Path) -> Any:
    from google.protobuf import text_format

    raw = _read_bounded(path, MAX_PROTOTXT_BYTES, "prototxt")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not a text prototxt (not UTF-8); pass the deploy.prototxt as SOURCE "
                         "and the .caffemodel with --weights") from None
    net = messages().NetParameter()
    try:
        # Fields outside our schema (training-only settings, other forks' layers) are skipped.
        text_format.Parse(text, net, allow_unknown_field=True)
    except Exception as exc:  # ParseError, and a nesting too deep for the parser
        raise UsageError(f"{path} is not a valid Caffe prototxt: {first_line(exc)}") from exc
    return net


def _meets(rule: Any) -> bool:
    """Caffe's StateMeetsRule for the TEST phase at level 0 with no stages."""
    if rule.HasField("phase") and rule.phase != 1:
        return False
    if rule.HasField("min_level") and 0 < rule.min_level:
        return False
    if rule.HasField("max_level") and 0 > rule.max_level:
        return False
    return not rule.stage


def _included(proto: Any) -> bool:
    if proto.include:
        return any(_meets(r) for r in proto.include)
    return not any(_meets(r) for r in proto.exclude)


def _shape_text(shape: Any) -> str:
    return "x".join(str(d) for d in shape) or "scalar"


def _net_inputs(net: Any, path: Path) -> list[tuple[str, tuple[int, ...]]]:
    names = list(net.input)
    if not names:
        return []
    if net.input_shape:
        if len(net.input_shape) != len(names):
            raise UsageError(f"{path}: {len(names)} inputs but {len(net.input_shape)} input_shape entries")
        shapes = [tuple(int(d) for d in s.dim) for s in net.input_shape]
    elif net.input_dim:
        dims = list(net.input_dim)
        if len(dims) != 4 * len(names):
            raise UsageError(f"{path}: {len(names)} inputs need {4 * len(names)} input_dim values (4 each), got {len(dims)}")
        shapes = [tuple(dims[4 * i:4 * i + 4]) for i in range(len(names))]
    else:
        raise UsageError(f"{path}: input {names[0]!r} has no shape; add input_shape {{ dim: ... }} or input_dim")
    return list(zip(names, shapes))


def _layer_from_proto(proto: Any, index: int, v1: bool, path: Path) -> Layer:
    if v1:
        enum_name = messages().v1_type_name(proto.type)
        if proto.type == 0:
            raise UsageError(f"{path}: V1 layer {proto.name!r} has no type (a V0 net?); upgrade it with Caffe's "
                             "upgrade_net_proto_text")
        type_name = _V1_NAMES.get(enum_name, enum_name)
    else:
        type_name = proto.type
    if not type_name:
        raise UsageError(f"{path}: layer {proto.name or index!r} has no type")
    name = proto.name or f"{type_name.lower()}_{index}"
    return Layer(name, type_name, list(proto.bottom), list(proto.top), proto, index)


def read_net(prototxt: str | Path) -> CaffeNet:
    """Parse ``prototxt`` into the TEST-phase layer list and its declared inputs."""
    path = Path(prototxt)
    net = _parse_text(path)
    if net.layer and net.layers:
        raise UsageError(f"{path} mixes 'layer' and legacy 'layers' entries; use one form")
    v1 = bool(net.layers)
    layers: list[Layer] = []
    for proto in (net.layers if v1 else net.layer):
        if _included(proto):
            layers.append(_layer_from_proto(proto, len(layers), v1, path))
    if not layers:
        raise UsageError(f"{path} holds no layers; is it a Caffe deploy.prototxt?")
    seen: set[str] = set()
    for layer in layers:
        if layer.name in seen:
            raise UsageError(f"{path}: two layers are named {layer.name!r}; weights are matched by name, rename one")
        seen.add(layer.name)
    inputs = _net_inputs(net, path)
    for layer in layers:
        if layer.type == "Input":
            shapes = [tuple(int(d) for d in s.dim) for s in layer.param("input_param").shape]
            if not shapes:
                raise UsageError(f"{path}: Input layer {layer.name!r} declares no shape")
            if len(shapes) not in (1, len(layer.tops)):
                raise UsageError(f"{path}: Input layer {layer.name!r} has {len(layer.tops)} tops and {len(shapes)} shapes")
            inputs += [(top, shapes[0] if len(shapes) == 1 else shapes[i]) for i, top in enumerate(layer.tops)]
    if not inputs:
        raise UsageError(f"{path} declares no inputs; add input + input_shape (or an Input layer)")
    for name, shape in inputs:
        if not shape or any(d <= 0 for d in shape) or math.prod(shape) > MAX_BLOB_ELEMENTS:
            raise UsageError(f"{path}: input {name!r} has shape {_shape_text(shape)}; every dim must be positive")
    return CaffeNet(net.name or path.stem, path, inputs, layers)


def read_weights(caffemodel: str | Path) -> dict[str, list[Any]]:
    """Layer name -> its BlobProto list, from the binary ``.caffemodel`` (``layer`` or V1 ``layers``)."""
    path = Path(caffemodel)
    raw = _read_bounded(path, MAX_FILE_BYTES, ".caffemodel")
    if re.match(rb"\s*(#[^\n]*\n\s*)*(name|input|layers?|force_backward)\s*[:{]", raw[:4096]):
        raise UsageError(f"{path} is a text prototxt, not a binary .caffemodel; pass the weights with --weights")
    net = messages().NetParameter()
    try:
        net.ParseFromString(raw)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise UsageError(f"{path} is not a Caffe .caffemodel ({type(exc).__name__}: {first_line(exc)})") from exc
    if not net.layer and not net.layers:
        raise UsageError(f"{path} holds no layers; is it a .caffemodel?")
    return {layer.name: list(layer.blobs) for layer in [*net.layers, *net.layer]}


def attach_weights(net: CaffeNet, weights: dict[str, list[Any]]) -> None:
    for layer in net.layers:
        if layer.name in weights:
            layer.blobs = weights[layer.name]


def blob_shape(blob: Any) -> tuple[int, ...]:
    """A blob's shape: ``shape`` when set, else the legacy (num, channels, height, width)."""
    if blob.HasField("shape"):
        return tuple(int(d) for d in blob.shape.dim)
    return (blob.num, blob.channels, blob.height, blob.width)


def blob_array(blob: Any, shape: tuple[int, ...], where: str) -> Any:
    """The blob's values as float32 of ``shape``, after checking the stored count before allocating."""
    import numpy as np

    count = math.prod(shape)
    stored = len(blob.data) if len(blob.data) else len(blob.double_data)
    if stored != count:
        raise UsageError(f"{where} holds {stored:,} values; its shape {_shape_text(shape)} needs {count:,}")
    values = blob.data if len(blob.data) else blob.double_data
    return np.array(values, dtype=np.float32).reshape(shape)
