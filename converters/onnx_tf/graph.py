"""Walk an ONNX graph in topological order, turning each node into TensorFlow ops through its handler.

Tensors carry layouts (``passes/layout.py``): the walker asks each handler's layout rule how to run its node,
arranges the inputs accordingly (a transpose only where a tensor is not yet in the layout asked for), and
records the layout of every output. Nodes whose inputs are all static are evaluated once, eagerly, and
become constants.
"""

from __future__ import annotations

from collections import ChainMap, Counter
from collections.abc import Mapping, Sequence
from typing import Any

from bridge.errors import BridgeError, UnsupportedError, UsageError, first_line
from bridge.onnx_graphs import walk_nodes
from bridge_converters.onnx_tf.context import NodeContext, parse_attributes
from bridge_converters.onnx_tf.ops._common import permute
from bridge_converters.onnx_tf.passes import shape_values
from bridge_converters.onnx_tf.passes.layout import NodeView, Perm, Plan, between, identity, inverse
from bridge_converters.onnx_tf.passes.shapes import refine_static_shape
from bridge_converters.onnx_tf.registry import OPS, OpRegistry

__all__ = ["GraphWalker", "find_unsupported", "check_supported", "model_opsets", "handler_failure"]

# Ops whose outputs must never be folded into constants even when their inputs are static.
_NO_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli",
            "If", "Loop", "Scan", "SequenceMap", "Dropout"}
_FOLD_LIMIT = 1 << 20  # elements; bigger results stay in the graph


def model_opsets(model: Any) -> dict[str, int]:
    return {("" if o.domain == "ai.onnx" else o.domain): int(o.version) for o in model.opset_import}


def find_unsupported(model: Any, ops: OpRegistry = OPS) -> Counter[str]:
    """Every op (including those inside If/Loop/Scan bodies) without a handler, with its count."""
    opsets = model_opsets(model)
    missing: Counter[str] = Counter()
    for node in walk_nodes(model.graph):
        domain = "" if node.domain == "ai.onnx" else node.domain
        label = f"{domain}::{node.op_type}" if domain else node.op_type
        if domain not in opsets or ops.resolve(domain, node.op_type, opsets[domain]) is None:
            missing[label] += 1
    return missing


def check_supported(model: Any, ops: OpRegistry = OPS) -> None:
    missing = find_unsupported(model, ops)
    if missing:
        listing = ", ".join(f"{op} x{n}" for op, n in sorted(missing.items()))
        raise UnsupportedError(
            f"the ONNX->TF backend lacks {len(missing)} op(s): {listing}; see 'bridge ops' for what is supported",
            dict(missing),
        )


class GraphWalker:
    """Converts one ONNX model's graph (and its subgraphs) into TF ops, inside or outside a tf.function.

    ``weights`` maps initializer names to tensors or variables to use instead of constants;
    ``weight_layouts`` gives the layout a weight is stored in (e.g. a conv kernel kept in TF's filter layout).
    ``shapes`` (value name -> ONNX-order dims, from ``passes.shapes``) refines the static shape of node
    outputs where TF knows less.
    """

    def __init__(self, model: Any, weights: Mapping[str, Any] | None = None, ops: OpRegistry = OPS,
                 fold_constants: bool = True, weight_layouts: Mapping[str, Perm] | None = None,
                 shapes: Mapping[str, Any] | None = None, float16_as_float32: bool = False) -> None:
        self.model = model
        self.float16_as_float32 = float16_as_float32  # passes/float16.py rewrote the model's float16 arithmetic
        self.shapes = dict(shapes or {})
        self.opsets = model_opsets(model)
        self.weights = dict(weights or {})
        self.weight_layouts = dict(weight_layouts or {})
        self.ops = ops
        self.fold_constants = fold_constants
        self.static: dict[str, Any] = {}  # ONNX-order numpy values of tensors known at conversion time
        self.partial: dict[str, shape_values.Partial] = {}  # shape vectors known in part (passes/shape_values.py)
        self.layouts: dict[str, Perm] = {}  # tensors held in a layout other than ONNX order
        self.uses: Counter[str] = Counter(name for node in walk_nodes(model.graph) for name in node.input)
        self.uses.update(o.name for o in model.graph.output)
        self._arranged: dict[tuple[int, str, Perm, int], Any] = {}  # (graph, name, layout, rank) -> tensor
        self._scopes: list[Mapping[str, Any]] = []
        self.trace: dict[str, Any] | None = None  # when a dict, every node output is recorded in it
        self.warnings: list[str] = []  # what a handler approximated, for the report
        # --trainable: None converts the graph as it is; True/False switch BatchNormalization and Dropout to
        # training/inference, and BatchNormalization updates its running statistics in ``variables``
        self.training: bool | None = None
        self.variables: dict[str, Any] = {}

    # -- static values -------------------------------------------------------------------------------
    def static_value(self, name: str, tensor: Any, layout: Sequence[int] | None = None) -> Any:
        """``name``'s value in ``layout`` (the layout ``tensor`` is in), or None when only known at run time."""
        if name in self.static:
            return _arranged_value(self.static[name], layout)
        import tensorflow as tf

        try:
            return tf.get_static_value(tensor)
        except Exception:  # get_static_value raises on some symbolic tensors; "unknown" is the answer
            return None

    def partial_value(self, name: str) -> shape_values.Partial | None:
        """What is known of ``name``'s value entry by entry, for a small 0-D or 1-D numeric tensor."""
        if name in self.static:
            return shape_values.from_array(self.static[name])
        return self.partial.get(name)

    def record_static(self, name: str, value: Any) -> None:
        self.static[name] = value

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    # -- layouts -------------------------------------------------------------------------------------
    def arrange(self, name: str, tensor: Any, want: Perm | None, rank: int | None = None) -> Any:
        """``tensor`` (``name``, in its recorded layout) in layout ``want``; with ``rank`` larger than its own,
        first given leading unit axes (numpy broadcasting). Constants are arranged with numpy."""
        if want is None or tensor is None:
            return tensor
        import tensorflow as tf

        own = tensor.shape.rank
        have = self.layouts.get(name) or identity(own)
        rank = own if rank is None else rank
        if have == tuple(want) and rank == own:
            return tensor
        key = (id(tf.compat.v1.get_default_graph()), name, tuple(want), rank)
        if key in self._arranged and not tf.executing_eagerly():
            return self._arranged[key]
        if name in self.static:
            out = tf.constant(_arranged_value(self.static[name], want))
        elif rank == own:  # one transpose straight to ``want`` (permute leaves an identity order alone)
            out = permute(tensor, between(have, want))
        else:  # ONNX order, the leading unit axes of broadcasting, then ``want``
            out = permute(tensor, between(have, identity(own)))
            for _ in range(rank - own):
                out = tf.expand_dims(out, 0)
            out = permute(out, list(want))
        if not tf.executing_eagerly():
            self._arranged[key] = out
        return out

    def onnx_order(self, name: str, tensor: Any) -> Any:
        rank = None if tensor is None else tensor.shape.rank
        return tensor if rank is None else self.arrange(name, tensor, identity(rank))

    # -- graphs --------------------------------------------------------------------------------------
    def run(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        """Convert the main graph on ``feeds`` (input name -> tensor); returns output name -> tensor."""
        import onnx
        import tensorflow as tf

        feeds = dict(feeds)
        if self.float16_as_float32:  # float16 at the graph's edges only (passes/float16.py)
            feeds = {k: tf.cast(t, tf.float32) if t.dtype == tf.float16 else t for k, t in feeds.items()}
        outputs = self._run_graph(self.model.graph, feeds, outer=None)
        if self.float16_as_float32:
            half = onnx.TensorProto.FLOAT16
            outputs = [tf.cast(t, tf.float16) if o.type.tensor_type.elem_type == half and t.dtype == tf.float32 else t
                       for o, t in zip(self.model.graph.output, outputs)]
        return {o.name: t for o, t in zip(self.model.graph.output, outputs)}

    def run_subgraph(self, graph: Any, inputs: Sequence[Any]) -> list[Any]:
        """Convert a subgraph (If/Loop/Scan body) bound to ``inputs``, seeing the enclosing scope."""
        if len(inputs) != len(graph.input):
            raise UsageError(f"subgraph {graph.name!r} takes {len(graph.input)} inputs, got {len(inputs)}")
        feeds = {v.name: t for v, t in zip(graph.input, inputs)}
        # Tensors made inside a tf.cond/tf.while_loop body cannot leave it, so bodies are never traced.
        trace, self.trace = self.trace, None
        try:
            return self._run_graph(graph, feeds, outer=self._scopes[-1] if self._scopes else None)
        finally:
            self.trace = trace

    def _run_graph(self, graph: Any, feeds: dict[str, Any], outer: Mapping[str, Any] | None) -> list[Any]:
        import tensorflow as tf
        from onnx import numpy_helper

        local: dict[str, Any] = {}
        env: ChainMap[str, Any] = ChainMap(local, outer) if outer is not None else ChainMap(local)
        for init in graph.initializer:
            if init.name in self.weights:
                local[init.name] = self.weights[init.name]
                if init.name in self.weight_layouts:
                    self.layouts[init.name] = tuple(self.weight_layouts[init.name])
            else:
                value = numpy_helper.to_array(init)
                self.static[init.name] = value
                local[init.name] = tf.constant(value)
        local.update(feeds)
        # A body is traced more than once (a Scan's type probe on its initial states, then the loop), and what
        # was static or laid out in one trace is not in the next: forget its feeds' and its nodes' records.
        for name in [*feeds, *(out for node in graph.node for out in node.output)]:
            self.static.pop(name, None)
            self.partial.pop(name, None)
            self.layouts.pop(name, None)
        self._scopes.append(env)
        try:
            for node in graph.node:
                self._convert_node(node, env, local)
        finally:
            self._scopes.pop()
        missing = [o.name for o in graph.output if o.name not in env]
        if missing:
            raise UsageError(f"graph outputs {missing} are produced by no node; the ONNX model is invalid")
        return [self.onnx_order(o.name, env[o.name]) for o in graph.output]

    def _convert_node(self, node: Any, env: Mapping[str, Any], local: dict[str, Any]) -> None:
        import tensorflow as tf

        domain = "" if node.domain == "ai.onnx" else node.domain
        opset = self.opsets.get(domain, 0)
        key = self.ops.resolve_key(domain, node.op_type, opset)
        if key is None:
            raise UnsupportedError(f"no TF handler for {node.op_type} at opset {opset}", {node.op_type: 1})
        for name in node.input:
            if name and name not in env:
                raise UsageError(f"node {node.name or node.op_type} reads '{name}', which nothing produces; the ONNX model is invalid")
        inputs = [env[name] if name else None for name in node.input]
        try:
            folded = self._fold(node, key, opset) if self._foldable(node) else None
            partial = None if folded is not None else self._partial(node, opset, inputs)
            if partial is not None and partial.known:  # shape arithmetic whose every entry is known
                self.static[node.output[0]] = partial.array()
                folded = [tf.constant(self.static[node.output[0]])]
            elif partial is not None:
                self.partial[node.output[0]] = partial
            if folded is not None:
                results, layouts = folded, [None] * len(folded)
            else:
                with tf.name_scope(_scope_name(node)):
                    results, layouts = self._apply(node, key, opset, inputs)
        except BridgeError:
            raise
        except Exception as exc:
            raise handler_failure(node, exc) from exc
        for i, out_name in enumerate(node.output):
            if out_name == "":
                continue
            if i >= len(results) or results[i] is None:
                raise UnsupportedError(f"{node.op_type}: output {i} ('{out_name}') is not produced by the TF handler",
                                       {node.op_type: 1})
            local[out_name] = results[i]
            layout = layouts[i] if i < len(layouts) else None
            if layout is not None and tuple(layout) != identity(len(layout)):
                self.layouts[out_name] = tuple(layout)
            else:
                self.layouts.pop(out_name, None)
            dims, layout = self.shapes.get(out_name), self.layouts.get(out_name)
            if dims is not None and layout:  # inferred in ONNX order, held physically
                dims = [dims[a] for a in layout] if len(dims) == len(layout) else None
            refine_static_shape(results[i], dims)
            self._note_static(out_name, results[i])
            if self.trace is not None:
                self.trace[out_name] = self.onnx_order(out_name, results[i])

    def _apply(self, node: Any, key: Any, opset: int, inputs: list[Any]) -> tuple[list[Any], list[Any]]:
        """Run one node through its layout plan (or in ONNX order); its outputs and their layouts."""
        attrs = parse_attributes(node)
        rule = self.ops.layout_rule(key)
        plan = rule(self._view(node, opset, attrs, inputs)) if rule is not None else None
        if plan is None:
            plan = Plan([None if t is None or t.shape.rank is None else identity(t.shape.rank) for t in inputs],
                        [None] * len(node.output))
        arranged = [self.arrange(name, t, plan.inputs[i] if i < len(plan.inputs) else None, plan.broadcast.get(i))
                    for i, (name, t) in enumerate(zip(node.input, inputs))]
        layouts = [plan.inputs[i] if i < len(plan.inputs) and plan.inputs[i] is not None else self.layouts.get(name)
                   for i, name in enumerate(node.input)]
        if plan.emit is not None:
            results = plan.emit(arranged)
        else:
            ctx = NodeContext(node, arranged, self, opset, attrs={**attrs, **plan.attrs}, layouts=layouts,
                              consts=plan.consts, channels_last=plan.channels_last)
            results = self.ops.handler(key)(ctx)
        if not isinstance(results, (list, tuple)):
            results = [results]
        return list(results), list(plan.outputs)

    def _view(self, node: Any, opset: int, attrs: dict[str, Any], inputs: list[Any]) -> NodeView:
        layouts: list[Perm | None] = [self._layout_of(name, t) for name, t in zip(node.input, inputs)]
        shapes = [self._onnx_dims(name, t) for name, t in zip(node.input, inputs)]

        def const(i: int) -> Any:
            name = node.input[i]
            if name in self.static:
                return self.static[name]
            value = self.static_value(name, inputs[i])
            return None if value is None else _arranged_value(value, inverse(layouts[i]) if layouts[i] else None)

        return NodeView(node, opset, attrs, [t is not None for t in inputs], layouts, shapes, const,
                        [self.uses[name] for name in node.input], lambda i: self.partial_value(node.input[i]))

    def _partial(self, node: Any, opset: int, inputs: list[Any]) -> shape_values.Partial | None:
        if not self.fold_constants or node.op_type not in shape_values.OPS or len(node.output) != 1:
            return None
        partials = [self.partial_value(name) if name else None for name in node.input]
        if node.op_type != "Shape" and all(p is None for p in partials):
            return None
        return shape_values.evaluate(node, parse_attributes(node), opset, partials,
                                     lambda i: self._onnx_dims(node.input[i], inputs[i]))

    def _layout_of(self, name: str, tensor: Any) -> Perm | None:
        """The layout ``tensor`` is held in (None when absent or of unknown rank)."""
        rank = None if tensor is None else tensor.shape.rank
        return None if rank is None else self.layouts.get(name) or identity(rank)

    def _onnx_dims(self, name: str, tensor: Any) -> list[int | None] | None:
        """``tensor``'s static dims in ONNX order (None when absent or of unknown rank)."""
        layout = self._layout_of(name, tensor)
        if layout is None:
            return None
        physical = tensor.shape.as_list()
        return [physical[layout.index(a)] for a in range(len(layout))]

    def _note_static(self, name: str, tensor: Any) -> None:
        """A handler's small constant result (Shape of a tensor whose shape TF knows) counts as static, so the
        shape arithmetic after it folds too."""
        if not self.fold_constants or name in self.static or getattr(tensor, "op", None) is None:
            return
        shape = getattr(tensor, "shape", None)
        if tensor.op.type != "Const" or shape is None or not shape.is_fully_defined() or shape.num_elements() > 4096:
            return
        value = self.static_value(name, tensor)
        if value is not None:
            layout = self.layouts.get(name)
            self.static[name] = _arranged_value(value, inverse(layout)) if layout else value

    def _foldable(self, node: Any) -> bool:
        if not self.fold_constants or node.op_type in _NO_FOLD:
            return False
        return all(name == "" or name in self.static for name in node.input)

    def _fold(self, node: Any, key: Any, opset: int) -> list[Any] | None:
        """Evaluate a node whose inputs are all static eagerly; its outputs become constants (ONNX order)."""
        import numpy as np
        import tensorflow as tf

        try:
            with tf.init_scope():
                inputs = [None if n == "" else tf.constant(self.static[n]) for n in node.input]
                results, layouts = self._apply(node, key, opset, inputs)
                values = [None if r is None else _arranged_value(np.asarray(r), inverse(p) if p else None)
                          for r, p in zip(results, layouts + [None] * (len(results) - len(layouts)))]
        except Exception:  # let the graph-mode conversion report (or succeed) instead
            return None
        if any(v is not None and v.size > _FOLD_LIMIT for v in values):
            return None
        out = []
        for name, value in zip(node.output, values):
            if value is None:
                out.append(None)
                continue
            if name:
                self.static[name] = value
            out.append(tf.constant(value))
        return out


def _arranged_value(value: Any, layout: Sequence[int] | None) -> Any:
    """A numpy value in ``layout``, given leading unit axes first when the layout is of a higher rank."""
    import numpy as np

    if layout is None:
        return value
    value = np.asarray(value)
    if value.ndim < len(layout):
        value = value.reshape((1,) * (len(layout) - value.ndim) + value.shape)
    return value if tuple(layout) == tuple(range(len(layout))) else np.transpose(value, layout)


def handler_failure(node: Any, exc: BaseException) -> UnsupportedError:
    """A handler that raised something other than a BridgeError, as the error a user sees.

    Models reach the walker only after the ONNX checker and strict type/shape inference
    (``bridge.onnx_io``), so what is left is mostly an op/attribute combination the backend cannot
    convert: exit 3, naming the node and op, never a traceback. (Some invalid models get this far too,
    e.g. a Conv bias of the wrong rank, which ONNX inference does not check; TF's own shape checks
    catch them here, and they cannot be told apart from a handler bug, hence the hint in the message.)
    """
    detail = first_line(exc)
    if len(detail) > 200:
        detail = detail[:197] + "..."
    label = f"{node.domain}::{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type
    return UnsupportedError(
        f"node '{node.name or '(unnamed)'}' ({label}): the TF handler cannot convert it "
        f"({type(exc).__name__}: {detail}); if the model runs in ONNX Runtime, please report this with the model",
        {label: 1},
    )


def _scope_name(node: Any) -> str:
    import re

    name = re.sub(r"[^A-Za-z0-9_.\-/]", "_", node.name or node.op_type).strip("/")
    return name if name and name[0].isalnum() else f"n{name}"
