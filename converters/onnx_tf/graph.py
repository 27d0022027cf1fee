"""Walk an ONNX graph in topological order, turning each node into TensorFlow ops through its handler."""

from __future__ import annotations

from collections import ChainMap, Counter
from collections.abc import Mapping, Sequence
from typing import Any

from bridge.errors import BridgeError, UnsupportedError, UsageError, first_line
from bridge.onnx_graphs import walk_nodes
from bridge_converters.onnx_tf.context import NodeContext
from bridge_converters.onnx_tf.registry import OPS, OpRegistry

__all__ = ["GraphWalker", "find_unsupported", "check_supported", "model_opsets", "handler_failure"]

# Ops whose outputs must never be folded into constants even when their inputs are static.
_NO_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli",
            "If", "Loop", "Scan", "SequenceMap", "Dropout"}
# Elementwise ops whose result does not depend on the layout of same-shaped inputs.
_LAYOUT_FREE = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu", "Gelu",
                "Softplus", "Softsign", "Mish", "Swish", "ThresholdedRelu", "Clip", "Neg", "Abs", "Exp", "Log", "Sqrt",
                "Reciprocal", "Erf", "Identity", "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean"}
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

    ``weights`` maps initializer names to tensors or variables to use instead of constants.
    """

    def __init__(self, model: Any, weights: Mapping[str, Any] | None = None, ops: OpRegistry = OPS,
                 fold_constants: bool = True) -> None:
        self.model = model
        self.opsets = model_opsets(model)
        self.weights = dict(weights or {})
        self.ops = ops
        self.fold_constants = fold_constants
        self.static: dict[str, Any] = {}
        self._scopes: list[Mapping[str, Any]] = []
        self.trace: dict[str, Any] | None = None  # when a dict, every node output is recorded in it
        # --trainable: None converts the graph as it is; True/False switch BatchNormalization and Dropout to
        # training/inference, and BatchNormalization updates its running statistics in ``variables``
        self.training: bool | None = None
        self.variables: dict[str, Any] = {}

    # -- static values -------------------------------------------------------------------------------
    def static_value(self, name: str, tensor: Any) -> Any:
        if name in self.static:
            return self.static[name]
        import tensorflow as tf

        try:
            value = tf.get_static_value(tensor)
        except Exception:  # get_static_value raises on some symbolic tensors; "unknown" is the answer
            value = None
        return value

    # -- graphs --------------------------------------------------------------------------------------
    def run(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        """Convert the main graph on ``feeds`` (input name -> tensor); returns output name -> tensor."""
        outputs = self._run_graph(self.model.graph, dict(feeds), outer=None)
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
            else:
                value = numpy_helper.to_array(init)
                self.static[init.name] = value
                local[init.name] = tf.constant(value)
        local.update(feeds)
        for name in feeds:
            self.static.pop(name, None)
        self._scopes.append(env)
        try:
            for node in graph.node:
                self._convert_node(node, env, local)
        finally:
            self._scopes.pop()
        missing = [o.name for o in graph.output if o.name not in env]
        if missing:
            raise UsageError(f"graph outputs {missing} are produced by no node; the ONNX model is invalid")
        return [env[o.name] for o in graph.output]

    def _convert_node(self, node: Any, env: Mapping[str, Any], local: dict[str, Any]) -> None:
        import tensorflow as tf

        domain = "" if node.domain == "ai.onnx" else node.domain
        opset = self.opsets.get(domain, 0)
        handler = self.ops.resolve(domain, node.op_type, opset)
        if handler is None:
            raise UnsupportedError(f"no TF handler for {node.op_type} at opset {opset}", {node.op_type: 1})
        inputs = []
        for name in node.input:
            if name == "":
                inputs.append(None)
            elif name in env:
                inputs.append(env[name])
            else:
                raise UsageError(f"node {node.name or node.op_type} reads '{name}', which nothing produces; the ONNX model is invalid")
        try:
            ctx = NodeContext(node, inputs, self, opset)
            results = self._fold(ctx, handler) if self._foldable(node) else None
            if results is None:
                with tf.name_scope(_scope_name(node)):
                    results = handler(ctx)
        except BridgeError:
            raise
        except Exception as exc:
            raise handler_failure(node, exc) from exc
        if not isinstance(results, (list, tuple)):
            results = [results]
        if node.op_type in _LAYOUT_FREE and domain == "" and len(results) == 1 and results[0] is not None:
            self._share_channels_last(ctx, handler, results[0])
        for i, out_name in enumerate(node.output):
            if out_name == "":
                continue
            if i >= len(results) or results[i] is None:
                raise UnsupportedError(f"{node.op_type}: output {i} ('{out_name}') is not produced by the TF handler",
                                       {node.op_type: 1})
            local[out_name] = results[i]
            if self.trace is not None:
                self.trace[out_name] = results[i]

    def _share_channels_last(self, ctx: NodeContext, handler: Any, result: Any) -> None:
        """When every non-scalar input has a channels-last twin (see ``ops/_common.py``) and all share the
        result's static shape (so no broadcasting is involved), the result gets a twin too: the same
        handler run on the twins."""
        from bridge_converters.onnx_tf.ops._common import channels_last_twin, remember_channels_last

        inputs: list[Any] = []
        for tensor in ctx.inputs:
            if tensor is None or tensor.shape.rank == 0:
                inputs.append(tensor)
                continue
            twin = channels_last_twin(tensor)
            if twin is None or not tensor.shape.is_fully_defined() or tensor.shape != result.shape:
                return
            inputs.append(twin)
        if all(not callable(i) for i in inputs):
            return

        def make() -> Any:
            out = handler(NodeContext(ctx.node, [i() if callable(i) else i for i in inputs], self, ctx.opset))
            return out[0] if isinstance(out, (list, tuple)) else out

        remember_channels_last(result, make)

    def _foldable(self, node: Any) -> bool:
        if not self.fold_constants or node.op_type in _NO_FOLD:
            return False
        return all(name == "" or name in self.static for name in node.input)

    def _fold(self, ctx: NodeContext, handler: Any) -> list[Any] | None:
        """Evaluate a node whose inputs are all static eagerly; its outputs become constants."""
        import numpy as np
        import tensorflow as tf

        try:
            with tf.init_scope():
                eager = NodeContext(ctx.node, [None if n == "" else tf.constant(self.static[n]) for n in ctx.node.input],
                                    self, ctx.opset)
                results = handler(eager)
                if not isinstance(results, (list, tuple)):
                    results = [results]
                values = [None if r is None else np.asarray(r) for r in results]
        except Exception:  # let the graph-mode conversion report (or succeed) instead
            return None
        if any(v is not None and v.size > _FOLD_LIMIT for v in values):
            return None
        out = []
        for name, value in zip(ctx.node.output, values):
            if value is None:
                out.append(None)
                continue
            if name:
                self.static[name] = value
            out.append(tf.constant(value))
        return out


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
