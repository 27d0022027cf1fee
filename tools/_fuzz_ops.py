"""The node builders behind ``tools._fuzz_gen.random_model``: one small function per common op that adds
a node with random attributes to a growing graph (``_Graph``), and the table of them (``OPS``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["OPS"]

_FLOAT = 1
_INT64 = 7
_BOOL = 9
_INPUT_TYPES = [(1, 0.7), (7, 0.1), (11, 0.05), (6, 0.05), (10, 0.05), (9, 0.05)]  # elem type, probability
_OPSETS = [11, 13, 15, 17, 18, 19, 21]


class _Skip(Exception):
    """The chosen op does not fit the values at hand; pick another."""


class _Graph:
    def __init__(self, rng: Any, opset: int, invalid: bool) -> None:
        self.rng, self.opset, self.invalid = rng, opset, invalid
        self.nodes: list[Any] = []
        self.inputs: list[Any] = []
        self.inits: list[Any] = []
        self.types: dict[str, tuple[int, tuple[int | None, ...] | None]] = {}
        self.count = 0
        self.poisoned = False

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def add_input(self, elem: int, shape: tuple[int | None, ...]) -> str:
        from onnx import helper

        name = self.name("in")
        dims = [d if d is not None else "N" for d in shape]
        self.inputs.append(helper.make_tensor_value_info(name, elem, dims))
        self.types[name] = (elem, shape)
        return name

    def const(self, array: Any) -> str:
        from onnx import numpy_helper

        name = self.name("c")
        self.inits.append(numpy_helper.from_array(array, name))
        self.types[name] = (int(numpy_helper.from_array(array).data_type), tuple(array.shape))
        return name

    def pick(self, want: Callable[[int, tuple | None], bool] = lambda e, s: True) -> str:
        names = [n for n, (e, s) in self.types.items() if want(e, s)]
        if not names:
            raise _Skip
        # Prefer recent values so graphs grow deep rather than wide.
        weights = [1.0 + i for i in range(len(names))]
        total = sum(weights)
        return names[int(self.rng.choice(len(names), p=[w / total for w in weights]))]

    def pick_float(self, min_rank: int = 0, known: bool = False) -> str:
        return self.pick(lambda e, s: e == _FLOAT and s is not None and len(s) >= min_rank
                         and (not known or all(d is not None for d in s)))

    def shape(self, name: str) -> tuple[int | None, ...]:
        shape = self.types[name][1]
        if shape is None:
            raise _Skip
        return shape

    def node(self, op: str, inputs: list[str], n_out: int = 1, **attrs: Any) -> list[str]:
        from onnx import helper

        outs = [self.name("t") for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.name(op.lower()), **attrs))
        return outs

    def model(self, outputs: list[Any]) -> Any:
        from onnx import helper

        graph = helper.make_graph(self.nodes, "fuzz", self.inputs, outputs, self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)], ir_version=8)

    def infer(self) -> bool:
        """Type and shape every value so far; False when strict inference rejects the graph."""
        import onnx

        try:
            inferred = onnx.shape_inference.infer_shapes(self.model([]), check_type=True, strict_mode=True)
        except Exception:
            return False
        for vi in inferred.graph.value_info:
            tt = vi.type.tensor_type
            if not vi.type.HasField("tensor_type"):
                continue
            shape = None
            if tt.HasField("shape"):
                shape = tuple(int(d.dim_value) if d.HasField("dim_value") else None for d in tt.shape.dim)
                if any(d is not None and d < 0 for d in shape):
                    # onnx 1.23 infers negative dims for some invalid nodes (Conv VALID, kernel > input), and
                    # inferring a Slice after one aborts the process: add nothing more to this graph.
                    self.poisoned = True
                    return False
            self.types[vi.name] = (tt.elem_type, shape)
        return True


def _axis(g: _Graph, rank: int) -> int:
    return int(g.rng.integers(-rank, rank)) if rank else 0


def _broadcast_const(g: _Graph, shape: tuple, dtype: str = "float32") -> str:
    tail = shape[len(shape) - int(g.rng.integers(0, len(shape) + 1)):]
    dims = [1 if d is None or g.rng.random() < 0.3 else d for d in tail]
    return g.const(g.rng.standard_normal(dims).astype(dtype) if dtype.startswith("float")
                   else g.rng.integers(-3, 4, size=dims).astype(dtype))


def _unary(op: str, **attrs: Any) -> Callable[[_Graph], None]:
    def build(g: _Graph) -> None:
        g.node(op, [g.pick_float()], **attrs)
    return build


def _binary(op: str) -> Callable[[_Graph], None]:
    def build(g: _Graph) -> None:
        x = g.pick(lambda e, s: e in (_FLOAT, _INT64) and s is not None)
        elem, shape = g.types[x]
        r = g.rng.random()
        if r < 0.3:
            y = x
        elif r < 0.6:
            y = g.pick(lambda e, s: e == elem and s == shape)
        else:
            y = _broadcast_const(g, shape, "float32" if elem == _FLOAT else "int64")
        g.node(op, [x, y] if g.rng.random() < 0.5 else [y, x])
    return build


def _matmul(g: _Graph) -> None:
    x = g.pick_float(1)
    k = g.shape(x)[-1]
    if k is None:
        raise _Skip
    n = int(g.rng.integers(1, 5))
    w = g.const(g.rng.standard_normal([k, n] if g.rng.random() < 0.8 else [k]).astype("float32"))
    g.node("MatMul", [x, w])


def _gemm(g: _Graph) -> None:
    x = g.pick(lambda e, s: e == _FLOAT and s is not None and len(s) == 2 and s[1] is not None)
    k, n = g.shape(x)[1], int(g.rng.integers(1, 5))
    trans_b = int(g.rng.integers(0, 2))
    b = g.const(g.rng.standard_normal([n, k] if trans_b else [k, n]).astype("float32"))
    c = [g.const(g.rng.standard_normal([n]).astype("float32"))] if g.rng.random() < 0.5 else []
    g.node("Gemm", [x, b, *c], transB=trans_b, alpha=float(g.rng.uniform(0.5, 2)))


def _reshape(g: _Graph) -> None:
    import numpy as np

    x = g.pick(lambda e, s: s is not None and all(d is not None for d in s))
    total = int(np.prod(g.shape(x), dtype=np.int64))
    dims = []
    rest = total
    for _ in range(int(g.rng.integers(0, 3))):
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        d = int(g.rng.choice(divisors))
        dims.append(d)
        rest //= d
    dims.append(rest)
    if g.rng.random() < 0.3:
        dims[int(g.rng.integers(0, len(dims)))] = -1
    g.node("Reshape", [x, g.const(np.array(dims, dtype=np.int64))])


def _transpose(g: _Graph) -> None:
    x = g.pick(lambda e, s: s is not None)
    perm = [int(p) for p in g.rng.permutation(len(g.shape(x)))]
    g.node("Transpose", [x], **({"perm": perm} if perm and g.rng.random() < 0.8 else {}))


def _concat(g: _Graph) -> None:
    x = g.pick(lambda e, s: e == _FLOAT and s is not None and len(s) >= 1)
    shape = g.shape(x)
    axis = _axis(g, len(shape))
    other = list(shape)
    other[axis] = int(g.rng.integers(1, 4))
    if any(d is None for d in other):
        y = x
    else:
        y = g.const(g.rng.standard_normal(other).astype("float32"))
    g.node("Concat", [x, y, x][: int(g.rng.integers(1, 4))], axis=axis)


def _softmax(g: _Graph) -> None:
    x = g.pick_float(1)
    op = "Softmax" if g.rng.random() < 0.7 else "LogSoftmax"
    g.node(op, [x], axis=_axis(g, len(g.shape(x))))


def _conv(g: _Graph) -> None:
    x = g.pick(lambda e, s: e == _FLOAT and s is not None and len(s) in (3, 4) and s[1] is not None)
    shape = g.shape(x)
    c, spatial = shape[1], len(shape) - 2
    group = int(g.rng.choice([d for d in (1, 2, 3) if c % d == 0]))
    m = group * int(g.rng.integers(1, 3))
    kernel = [int(g.rng.integers(1, 4)) for _ in range(spatial)]
    w = g.const(g.rng.standard_normal([m, c // group, *kernel]).astype("float32"))
    b = [g.const(g.rng.standard_normal([m]).astype("float32"))] if g.rng.random() < 0.5 else []
    attrs: dict[str, Any] = {"group": group}
    if g.rng.random() < 0.5:
        attrs["pads"] = [int(p) for p in g.rng.integers(0, 2, size=2 * spatial)]
    if g.rng.random() < 0.3:
        attrs["strides"] = [int(s) for s in g.rng.integers(1, 3, size=spatial)]
    if g.rng.random() < 0.2:
        attrs["dilations"] = [int(s) for s in g.rng.integers(1, 3, size=spatial)]
    if g.rng.random() < 0.1:
        attrs["auto_pad"] = str(g.rng.choice(["SAME_UPPER", "SAME_LOWER", "VALID"]))
        attrs.pop("pads", None)
    g.node("Conv", [x, w, *b], **attrs)


def _pool(g: _Graph) -> None:
    x = g.pick(lambda e, s: e == _FLOAT and s is not None and len(s) in (3, 4))
    spatial = len(g.shape(x)) - 2
    op = str(g.rng.choice(["MaxPool", "AveragePool", "GlobalAveragePool"]))
    if op == "GlobalAveragePool":
        g.node(op, [x])
        return
    attrs: dict[str, Any] = {"kernel_shape": [int(k) for k in g.rng.integers(1, 4, size=spatial)]}
    if g.rng.random() < 0.5:
        attrs["strides"] = [int(s) for s in g.rng.integers(1, 3, size=spatial)]
    if g.rng.random() < 0.3:
        attrs["pads"] = [0] * (2 * spatial)
    g.node(op, [x], **attrs)


def _gather(g: _Graph) -> None:
    import numpy as np

    x = g.pick(lambda e, s: s is not None and len(s) >= 1)
    shape = g.shape(x)
    axis = _axis(g, len(shape))
    size = shape[axis] or 1
    idx = g.rng.integers(-size, size, size=[int(d) for d in g.rng.integers(1, 3, size=int(g.rng.integers(0, 3)))])
    g.node("Gather", [x, g.const(np.asarray(idx, dtype=np.int64))], axis=axis)


def _reduce(g: _Graph) -> None:
    import numpy as np

    x = g.pick(lambda e, s: e in (_FLOAT, _INT64) and s is not None and len(s) >= 1)
    rank = len(g.shape(x))
    op = str(g.rng.choice(["ReduceSum", "ReduceMean", "ReduceMax"]))
    axes = sorted({int(a) % rank for a in g.rng.integers(-rank, rank, size=int(g.rng.integers(1, rank + 1)))})
    keep = int(g.rng.integers(0, 2))
    input_axes = g.opset >= (13 if op == "ReduceSum" else 18)
    if input_axes:
        g.node(op, [x, g.const(np.array(axes, dtype=np.int64))], keepdims=keep)
    else:
        g.node(op, [x], axes=axes, keepdims=keep)


def _cast(g: _Graph) -> None:
    x = g.pick(lambda e, s: e in (1, 6, 7, 9, 10, 11))
    g.node("Cast", [x], to=int(g.rng.choice([1, 6, 7, 9, 10, 11, 2])))


def _slice(g: _Graph) -> None:
    import numpy as np

    x = g.pick(lambda e, s: s is not None and len(s) >= 1)
    rank = len(g.shape(x))
    axes = [int(a) for a in g.rng.permutation(rank)[: int(g.rng.integers(1, rank + 1))]]
    starts = [int(v) for v in g.rng.integers(-4, 4, size=len(axes))]
    ends = [int(v) for v in g.rng.choice([-1, 1, 2, 3, 2**62, -(2**62)], size=len(axes))]
    steps = [int(v) for v in g.rng.choice([1, 1, 1, 2, -1], size=len(axes))]
    ins = [x, g.const(np.array(starts, np.int64)), g.const(np.array(ends, np.int64)),
           g.const(np.array(axes, np.int64))]
    if g.rng.random() < 0.5:
        ins.append(g.const(np.array(steps, np.int64)))
    g.node("Slice", ins)


def _where(g: _Graph) -> None:
    x = g.pick(lambda e, s: e == _FLOAT and s is not None)
    shape = g.shape(x)
    cond = g.node(str(g.rng.choice(["Greater", "Less", "Equal"])), [x, _broadcast_const(g, shape)])[0]
    y = _broadcast_const(g, shape) if g.rng.random() < 0.6 else x
    g.node("Where", [cond, x, y])


def _unsqueeze(g: _Graph) -> None:
    import numpy as np

    x = g.pick(lambda e, s: s is not None)
    rank = len(g.shape(x))
    if g.rng.random() < 0.5:
        axes = [int(g.rng.integers(-(rank + 1), rank + 1))]
        op = "Unsqueeze"
    else:
        ones = [i for i, d in enumerate(g.shape(x)) if d == 1]
        if not ones:
            raise _Skip
        axes, op = [int(g.rng.choice(ones))], "Squeeze"
    if g.opset >= 13:
        g.node(op, [x, g.const(np.array(axes, np.int64))])
    else:
        g.node(op, [x], axes=axes)


def _expand_tile(g: _Graph) -> None:
    import numpy as np

    x = g.pick(lambda e, s: s is not None and len(s) >= 1)
    rank = len(g.shape(x))
    if g.rng.random() < 0.5:
        shape = [int(g.rng.choice([1, 2])) if d == 1 else 1 for d in g.shape(x)]
        g.node("Expand", [x, g.const(np.array(shape, np.int64))])
    else:
        g.node("Tile", [x, g.const(g.rng.integers(1, 3, size=rank).astype(np.int64))])


def _pad(g: _Graph) -> None:
    import numpy as np

    x = g.pick_float(1)
    rank = len(g.shape(x))
    pads = g.rng.integers(0, 3, size=2 * rank).astype(np.int64)
    mode = str(g.rng.choice(["constant", "reflect", "edge"]))
    g.node("Pad", [x, g.const(pads)], mode=mode)


def _clip(g: _Graph) -> None:
    import numpy as np

    x = g.pick_float()
    lo = float(g.rng.uniform(-2, 0))
    hi = lo + float(g.rng.uniform(0, 3))
    g.node("Clip", [x, g.const(np.array(lo, np.float32)), g.const(np.array(hi, np.float32))])


def _batchnorm(g: _Graph) -> None:
    x = g.pick(lambda e, s: e == _FLOAT and s is not None and len(s) >= 2 and s[1] is not None)
    c = g.shape(x)[1]
    params = [g.rng.standard_normal(c), g.rng.standard_normal(c), g.rng.standard_normal(c), g.rng.uniform(0.1, 2, c)]
    g.node("BatchNormalization", [x, *[g.const(p.astype("float32")) for p in params]])


def _argmax_topk(g: _Graph) -> None:
    import numpy as np

    x = g.pick(lambda e, s: e == _FLOAT and s is not None and len(s) >= 1)
    shape = g.shape(x)
    axis = _axis(g, len(shape))
    if g.rng.random() < 0.5 or shape[axis] is None:
        g.node(str(g.rng.choice(["ArgMax", "ArgMin"])), [x], axis=axis, keepdims=int(g.rng.integers(0, 2)))
    else:
        k = int(g.rng.integers(1, shape[axis] + 1))
        g.node("TopK", [x, g.const(np.array([k], np.int64))], n_out=2, axis=axis)


def _split(g: _Graph) -> None:
    import numpy as np

    x = g.pick(lambda e, s: e == _FLOAT and s is not None and len(s) >= 1)
    shape = g.shape(x)
    axis = _axis(g, len(shape))
    if shape[axis] is None or shape[axis] < 2:
        raise _Skip
    first = int(g.rng.integers(1, shape[axis]))
    sizes = np.array([first, shape[axis] - first], np.int64)
    if g.opset >= 13:
        g.node("Split", [x, g.const(sizes)], n_out=2, axis=axis)
    else:
        g.node("Split", [x], n_out=2, axis=axis, split=[int(s) for s in sizes])


def _shape_size(g: _Graph) -> None:
    x = g.pick()
    g.node(str(g.rng.choice(["Shape", "Size"])), [x])


OPS: dict[str, Callable[[_Graph], None]] = {
    **{op: _unary(op) for op in ("Relu", "Sigmoid", "Tanh", "Abs", "Neg", "Exp", "Sqrt", "Floor", "Identity", "Erf")},
    "LeakyRelu": _unary("LeakyRelu", alpha=0.1),
    **{op: _binary(op) for op in ("Add", "Sub", "Mul", "Div", "Max", "Min")},
    "MatMul": _matmul, "Gemm": _gemm, "Reshape": _reshape, "Transpose": _transpose, "Concat": _concat,
    "Softmax": _softmax, "Conv": _conv, "Pool": _pool, "Gather": _gather, "Reduce": _reduce, "Cast": _cast,
    "Slice": _slice, "Where": _where, "Unsqueeze": _unsqueeze, "ExpandTile": _expand_tile, "Pad": _pad,
    "Clip": _clip, "BatchNormalization": _batchnorm, "ArgMaxTopK": _argmax_topk, "Split": _split,
    "ShapeSize": _shape_size,
}
_ALL_OP_TYPES = ["Add", "Mul", "Relu", "MatMul", "Reshape", "Transpose", "Concat", "Softmax", "Conv", "Gather",
                 "ReduceSum", "Cast", "Slice", "Where", "Gemm", "MaxPool", "Split", "Pad", "Expand", "TopK"]
