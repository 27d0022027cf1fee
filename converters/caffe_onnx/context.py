"""The graph under construction and the view a layer handler gets of it.

ONNX tensors are named after Caffe blobs, so a Caffe runtime's blob and the ONNX tensor can be matched:
the last version of every blob carries the blob's own name; an earlier version (before an in-place layer
rewrote it) is ``blob/layer``, the blob as that layer left it; a handler's intermediate tensors are
``layer/what``. Every node carries the name of the Caffe layer it came from in its metadata.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bridge.errors import UnsupportedError, UsageError
from bridge.sources_caffe import CAFFE_LAYER_KEY
from bridge_converters.caffe_onnx.net import MAX_BLOB_ELEMENTS, CaffeNet, Layer, blob_array, blob_shape

__all__ = ["GraphBuilder", "LayerContext", "Shape", "LAYER_KEY"]

Shape = tuple[int | None, ...]  # None: a size known only at run time (detections)
LAYER_KEY = CAFFE_LAYER_KEY


def _shape_text(shape: Sequence[Any]) -> str:
    return "x".join("?" if d is None else str(d) for d in shape) or "scalar"


class GraphBuilder:
    """Nodes, initializers and the shape of every tensor, for one net. ``dry`` builds shapes only (for
    ``bridge inspect``): blobs read as zeros and no initializer data is kept."""

    def __init__(self, net: CaffeNet, dry: bool = False, weights_path: str = "") -> None:
        self.net, self.dry, self.weights_path = net, dry, weights_path
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.shapes: dict[str, Shape] = {}
        self.current: dict[str, str] = {}  # blob -> tensor holding its current value
        self.used: set[str] = set()
        self.node_names: set[str] = set()
        self.layer_tensors: list[dict[str, Any]] = []  # per layer: name, type, tops' tensors, folded layers
        self.detections: dict[str, dict[str, Any]] = {}  # output tensor -> how to compare it
        self.parameters = 0
        self.input_names = [name for name, _ in net.inputs]
        for name, shape in net.inputs:
            self.current[name] = name
            self.shapes[name] = tuple(shape)
            self.used.add(name)
        self.last_writer: dict[str, int] = {}
        for layer in net.layers:
            for top in layer.tops:
                self.last_writer[top] = layer.index
        # Final blob names are kept free for the blob that ends with them.
        self.reserved = {b for b in self.last_writer if b not in self.current}

    def unique(self, base: str) -> str:
        name, k = base, 1
        while name in self.used or name in self.reserved:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name

    def node_name(self, base: str) -> str:
        name, k = base, 1
        while name in self.node_names:
            name, k = f"{base}_{k}", k + 1
        self.node_names.add(name)
        return name

    def add_node(self, op: str, inputs: Sequence[str], outputs: Sequence[str], name: str, layer: str,
                 **attrs: Any) -> None:
        from onnx import helper

        node = helper.make_node(op, list(inputs), list(outputs), name=self.node_name(name), **attrs)
        entry = node.metadata_props.add()
        entry.key, entry.value = LAYER_KEY, layer
        self.nodes.append(node)

    def const(self, array: Any, base: str) -> str:
        import numpy as np
        from onnx import numpy_helper

        name = self.unique(base)
        array = np.asarray(array)
        self.shapes[name] = tuple(int(d) for d in array.shape)
        if not self.dry:
            self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name


class LayerContext:
    """What one handler sees: its layer, its bottoms' tensors and shapes, and ways to emit nodes."""

    def __init__(self, builder: GraphBuilder, layer: Layer) -> None:
        self.b, self.layer = builder, layer
        self.tops_written: dict[int, str] = {}

    # -- reading ---------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.layer.name

    def param(self, name: str) -> Any:
        return self.layer.param(name)

    def has_param(self, name: str) -> bool:
        return self.layer.has_param(name)

    def bottom(self, i: int = 0) -> str:
        if i >= len(self.layer.bottoms):
            raise self.fail(f"needs at least {i + 1} bottom(s), has {len(self.layer.bottoms)}")
        blob = self.layer.bottoms[i]
        if blob not in self.b.current:
            raise self.fail(f"reads blob {blob!r}, which no earlier layer writes and no input declares")
        return self.b.current[blob]

    def bottoms(self) -> list[str]:
        return [self.bottom(i) for i in range(len(self.layer.bottoms))]

    def shape(self, tensor: str) -> Shape:
        return self.b.shapes[tensor]

    def static_shape(self, tensor: str) -> tuple[int, ...]:
        shape = self.b.shapes[tensor]
        if any(d is None for d in shape):
            raise self.unsupported(f"needs a static input shape, got {_shape_text(shape)}")
        return tuple(int(d) for d in shape)  # type: ignore[arg-type]

    def bottom_shape(self, i: int = 0) -> tuple[int, ...]:
        return self.static_shape(self.bottom(i))

    def axis(self, axis: int, rank: int) -> int:
        """Caffe's CanonicalAxisIndex: negative counts from the end."""
        if not -rank <= axis < rank:
            raise self.fail(f"axis {axis} is out of range for a {rank}-d bottom")
        return axis % rank

    def expect_bottoms(self, *counts: int) -> None:
        if len(self.layer.bottoms) not in counts:
            want = " or ".join(map(str, counts))
            raise self.fail(f"takes {want} bottom(s), has {len(self.layer.bottoms)}")

    def expect_tops(self, *counts: int) -> None:
        if len(self.layer.tops) not in counts:
            want = " or ".join(map(str, counts))
            raise self.fail(f"makes {want} top(s), has {len(self.layer.tops)}")

    # -- weights ---------------------------------------------------------------------------------------
    def blobs(self, *shapes: Sequence[int]) -> list[Any]:
        """The layer's blobs as float32 arrays, after checking the .caffemodel has exactly these shapes."""
        import numpy as np

        shapes = tuple(tuple(int(d) for d in s) for s in shapes)
        if not shapes:
            return []
        for s in shapes:
            if math.prod(s) > MAX_BLOB_ELEMENTS or any(d < 0 for d in s):
                raise self.fail(f"implies a blob of shape {_shape_text(s)}; at most {MAX_BLOB_ELEMENTS:,} values")
        self.b.parameters += sum(math.prod(s) for s in shapes)
        if self.b.dry:  # shapes only: zeros that take no memory
            return [np.broadcast_to(np.float32(0), s) for s in shapes]
        if self.layer.arrays is not None:  # computed by a pass from blobs it checked
            if [tuple(a.shape) for a in self.layer.arrays] != list(shapes):
                raise self.fail("was folded into weights of the wrong shape (a bug in bridge; please report it)")
            return list(self.layer.arrays)
        where = self.b.weights_path or "the weights"
        stored = self.layer.blobs
        if stored is None:
            if not self.b.weights_path:
                raise UsageError(f"layer {self.name!r} ({self.layer.type}) has learned parameters; "
                                 "pass --weights model.caffemodel")
            raise UsageError(f"layer {self.name!r} ({self.layer.type}) is not in {where}; "
                             "is it the .caffemodel of this prototxt?")
        if len(stored) != len(shapes):
            want = ", ".join(_shape_text(s) for s in shapes)
            raise UsageError(f"layer {self.name!r} ({self.layer.type}) has {len(stored)} blob(s) in {where}; "
                             f"the prototxt makes {len(shapes)} ({want})")
        arrays = []
        for k, (blob, want) in enumerate(zip(stored, shapes)):
            have = blob_shape(blob)
            if have != want and not _legacy_fits(blob, have, want):
                raise UsageError(f"layer {self.name!r} ({self.layer.type}) blob {k} has shape {_shape_text(have)} in "
                                 f"{where}; the prototxt makes it {_shape_text(want)}")
            arrays.append(blob_array(blob, want, f"layer {self.name!r} blob {k} in {where}"))
        return arrays

    # -- writing ---------------------------------------------------------------------------------------
    def const(self, array: Any, what: str = "const") -> str:
        return self.b.const(array, f"{self.name}/{what}")

    def node(self, op: str, inputs: Sequence[str], shape: Shape, what: str = "", **attrs: Any) -> str:
        """An intermediate node with one output, named ``layer/what``."""
        out = self.b.unique(f"{self.name}/{what or op}")
        self.b.shapes[out] = tuple(shape)
        self.b.add_node(op, inputs, [out], f"{self.name}/{what or op}", self.name, **attrs)
        return out

    def multi(self, op: str, inputs: Sequence[str], shapes: Sequence[Shape], what: str = "", **attrs: Any) -> list[str]:
        """An intermediate node with several outputs."""
        outs = [self.b.unique(f"{self.name}/{what or op}_{k}") for k in range(len(shapes))]
        for out, shape in zip(outs, shapes):
            self.b.shapes[out] = tuple(shape)
        self.b.add_node(op, inputs, outs, f"{self.name}/{what or op}", self.name, **attrs)
        return outs

    def top_name(self, i: int) -> str:
        blob = self.layer.tops[i]
        if self.b.last_writer.get(blob) == self.layer.index and blob in self.b.reserved and blob not in self.b.used:
            self.b.used.add(blob)
            return blob
        return self.b.unique(f"{blob}/{self.name}")

    def top(self, i: int, op: str, inputs: Sequence[str], shape: Shape | None = None, **attrs: Any) -> str:
        """Emit the node that makes top ``i``; ``shape`` defaults to the first input's."""
        if i >= len(self.layer.tops):
            raise self.fail(f"needs at least {i + 1} top(s), has {len(self.layer.tops)}")
        out = self.top_name(i)
        self.b.shapes[out] = tuple(shape if shape is not None else self.b.shapes[inputs[0]])
        node_name = self.name if i == 0 else f"{self.name}/top{i}"
        self.b.add_node(op, inputs, [out], node_name, self.name, **attrs)
        self.tops_written[i] = out
        return out

    def tops(self, op: str, inputs: Sequence[str], shapes: Sequence[Shape], **attrs: Any) -> list[str]:
        """One node that makes every top."""
        if len(shapes) != len(self.layer.tops):
            raise self.fail(f"makes {len(shapes)} outputs but has {len(self.layer.tops)} top(s)")
        outs = [self.top_name(i) for i in range(len(shapes))]
        for i, (out, shape) in enumerate(zip(outs, shapes)):
            self.b.shapes[out] = tuple(shape)
            self.tops_written[i] = out
        self.b.add_node(op, inputs, outs, self.name, self.name, **attrs)
        return outs

    def detection_output(self, tensor: str, info: dict[str, Any]) -> None:
        self.b.detections[tensor] = info

    # -- errors ----------------------------------------------------------------------------------------
    def fail(self, message: str) -> UsageError:
        return UsageError(f"layer {self.name!r} ({self.layer.type}) {message}")

    def unsupported(self, message: str) -> UnsupportedError:
        return UnsupportedError(f"layer {self.name!r} ({self.layer.type}) {message}",
                                {f"{self.layer.type} ({message})": 1})


def _legacy_fits(blob: Any, have: tuple[int, ...], want: tuple[int, ...]) -> bool:
    """Caffe's ShapeEquals for legacy 4-D blobs: (num, channels, height, width) index from the end, so a
    bias of N may be stored as 1x1x1xN and an InnerProduct weight MxK as 1x1xMxK."""
    if blob.HasField("shape") or len(want) > 4:
        return False
    return tuple([1] * (4 - len(want)) + list(want)) == have
