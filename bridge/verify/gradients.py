"""Gradient parity: the gradients of one loss with respect to every float input and every parameter, from
PyTorch's autograd and from ``tf.GradientTape`` on a trainable SavedModel (``bridge convert --trainable``),
judged tensor by tensor with the noise-calibrated rule: the truth is autograd on a float64 copy of the
module, the floor is float32 autograd's own error against it.

Modules with BatchNorm are checked in both modes: eval (running statistics) and train (batch statistics,
the SavedModel's ``training=True``). Train mode is skipped, with a note, where Dropout would draw random
masks that no two frameworks share.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bridge.errors import UsageError, first_line
from bridge.model import Artifact
from bridge.verify.noise import noise_limit

__all__ = ["LossSpec", "GradientParity", "TrainableSavedModel", "load_labels", "torch_gradients", "gradient_parity",
           "training_modes", "torch_loss", "tf_loss"]

LOSSES = ("sum", "mse", "cross_entropy")


@dataclass
class LossSpec:
    """``sum`` of every float output (default); ``mse`` against ``labels`` (zeros where none);
    ``cross_entropy`` over the last axis against integer ``labels`` (class indices, the output's shape
    without its last axis). ``labels`` are keyed by output name; a single array serves the first output."""

    kind: str = "sum"
    labels: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in LOSSES:
            raise UsageError(f"unknown --loss '{self.kind}'; use one of {', '.join(LOSSES)}")
        if self.kind == "cross_entropy" and not self.labels:
            raise UsageError("--loss cross_entropy needs --labels FILE.npz (integer class indices per output)")

    def targets(self, output_names: Sequence[str]) -> dict[str, Any]:
        """Output name -> label array, for the outputs the loss covers (every output for sum and mse)."""
        if not self.labels:
            return {}
        named = {k: v for k, v in self.labels.items() if k in output_names}
        if not named and len(self.labels) == 1 and output_names:
            named = {output_names[0]: next(iter(self.labels.values()))}
        if not named:
            raise UsageError(f"--labels names {sorted(self.labels)}, none of the outputs {list(output_names)}")
        return named


def load_labels(path: str | Path) -> dict[str, Any]:
    import numpy as np

    try:
        with np.load(str(path), allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise UsageError(f"--labels {path}: not a readable .npz ({type(exc).__name__})") from exc


@dataclass
class GradientParity:
    """One tensor's gradient: TF against PyTorch float32 (``max_abs``, relative to ``norm``), judged by
    its error against float64 autograd in noise floors."""

    name: str
    kind: str  # "input" or "parameter"
    mode: str  # "eval" or "train"
    passed: bool
    max_abs: float = 0.0
    norm: float = 0.0
    rel: float = 0.0  # max_abs / norm
    error: float = 0.0
    noise_floor: float = 0.0
    noise_ratio: float = 0.0
    noise_limit: float = 0.0
    rule: str = "calibrated"
    problem: str = ""

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v != ""}


def training_modes(module: Any) -> tuple[list[str], str]:
    """The modes to check gradients in, and a note on any left out."""
    import torch

    norms = (torch.nn.modules.batchnorm._BatchNorm,)
    has_norm = any(isinstance(m, norms) for m in module.modules())
    dropout = [n for n, m in module.named_modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0]
    if not has_norm:
        return ["eval"], ""
    if dropout:
        return ["eval"], f"train mode not compared: Dropout ({dropout[0]}) draws random masks in each framework"
    return ["eval", "train"], ""


def torch_loss(outputs: Mapping[str, Any], spec: LossSpec) -> Any:
    import torch
    import torch.nn.functional as F

    floats = {k: v for k, v in outputs.items() if v.is_floating_point()}
    targets = spec.targets(list(floats))
    total = torch.zeros((), dtype=next(iter(floats.values())).dtype)
    for name, out in floats.items():
        if spec.kind == "sum":
            total = total + out.sum()
        elif spec.kind == "mse":
            target = torch.as_tensor(targets[name], dtype=out.dtype) if name in targets else torch.zeros_like(out)
            total = total + F.mse_loss(out, target)
        elif name in targets:
            labels = torch.as_tensor(targets[name], dtype=torch.int64).reshape(-1)
            total = total + F.cross_entropy(out.reshape(-1, out.shape[-1]), labels)
    return total


def tf_loss(outputs: Mapping[str, Any], spec: LossSpec) -> Any:
    import tensorflow as tf

    floats = {k: v for k, v in outputs.items() if v.dtype.is_floating}
    targets = spec.targets(list(floats))
    total = tf.zeros((), dtype=next(iter(floats.values())).dtype)
    for name, out in floats.items():
        if spec.kind == "sum":
            total += tf.reduce_sum(out)
        elif spec.kind == "mse":
            target = tf.constant(targets[name], dtype=out.dtype) if name in targets else tf.zeros_like(out)
            total += tf.reduce_mean(tf.square(out - target))
        elif name in targets:
            labels = tf.reshape(tf.constant(targets[name], dtype=tf.int64), [-1])
            logits = tf.reshape(out, [-1, out.shape[-1]])
            total += tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    return total


def torch_gradients(module: Any, feeds: Mapping[str, Any], spec: LossSpec, mode: str,
                    double: bool = False) -> tuple[float, dict[str, Any], dict[str, Any]]:
    """(loss, input gradients, parameter gradients) from autograd on a copy of ``module`` in ``mode``."""
    import numpy as np
    import torch

    from bridge.outputs import flatten_outputs

    work = copy.deepcopy(module)
    if double:
        work = work.double()
    work.train(mode == "train")
    args = []
    for value in feeds.values():
        array = np.array(value, copy=True)
        tensor = torch.from_numpy(array.astype(np.float64) if double and array.dtype.kind == "f" else array)
        args.append(tensor.requires_grad_() if tensor.is_floating_point() else tensor)
    previous = torch.get_default_dtype()
    if double:
        torch.set_default_dtype(torch.float64)
    try:
        loss = torch_loss(dict(flatten_outputs(work(*args))), spec)
    finally:
        torch.set_default_dtype(previous)
    loss.backward()

    def grad(t: Any) -> Any:
        return np.zeros(tuple(t.shape), np.float64) if t.grad is None else t.grad.detach().numpy().astype(np.float64)

    inputs = {name: grad(t) for name, t in zip(feeds, args) if t.is_floating_point()}
    params = {name: grad(p) for name, p in work.named_parameters() if p.requires_grad}
    return float(loss.detach()), inputs, params


class TrainableSavedModel:
    """A SavedModel written by ``--trainable``, loaded in plain TensorFlow: its ``forward`` signature and
    its variables by PyTorch name."""

    def __init__(self, artifact: Artifact) -> None:
        from bridge._frameworks import import_tensorflow
        from bridge.runtimes.tf_savedmodel import read_name_map

        tf = import_tensorflow()
        self.path = Path(artifact.path)
        meta = read_name_map(self.path)
        if not meta.get("parameters") and not meta.get("trainable"):
            raise UsageError(f"{self.path} is not a trainable SavedModel; convert with --trainable for gradients")
        self.loaded = tf.saved_model.load(str(self.path))
        self.input_map, self.output_map = dict(meta["inputs"]), dict(meta["outputs"])
        by_var = {v.name.split(":")[0]: v for v in [*self.loaded.parameters, *self.loaded.buffers]}
        self.parameters = {t: by_var[v] for t, v in meta.get("parameters", {}).items() if v in by_var}
        self.buffers = {t: by_var[v] for t, v in meta.get("buffers", {}).items() if v in by_var}

    def forward(self, inputs: Mapping[str, Any], training: bool) -> dict[str, Any]:
        """Outputs by source name; ``inputs`` are TF tensors by source name."""
        import tensorflow as tf

        fn = self.loaded.signatures["forward"]
        result = fn(**{self.input_map[n]: v for n, v in inputs.items()}, training=tf.constant(training))
        return {name: result[sig] for name, sig in self.output_map.items() if sig in result}

    def assign(self, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            variable = self.parameters.get(name) or self.buffers.get(name)
            if variable is not None:
                variable.assign(value)


_NO_GRADIENT = re.compile(r"op type: ([^)]+)\)|has no entry for: (\w+)")


def _no_gradient_op_type(exc: BaseException) -> str:
    match = _NO_GRADIENT.search(str(exc))
    return (match.group(1) or match.group(2)) if match else ""


def _scope(name: str) -> str:
    # the TF name scope the ONNX->TF walker gives a node (bridge_converters.onnx_tf.graph._scope_name)
    scope = re.sub(r"[^A-Za-z0-9_.\-/]", "_", name).strip("/")
    return scope if scope and scope[0].isalnum() else f"n{scope}"


def cut_off_by(model: TrainableSavedModel, op_type: str) -> tuple[list[str], set[str]]:
    """The ONNX nodes whose TF ops include ``op_type``, and every input and parameter upstream of them
    (from the training graph the SavedModel was built from, when it lies beside the SavedModel)."""
    import json

    import onnx

    from bridge.runtimes.tf_savedmodel import read_name_map

    graph_def = model.loaded.signatures["forward"].graph.as_graph_def()
    names = [n.name for f in graph_def.library.function for n in f.node_def if n.op == op_type]
    names += [n.name for n in graph_def.node if n.op == op_type]
    view = model.path.parent / str(read_name_map(model.path).get("training_view", ""))
    if not view.is_file():
        return [], set()
    onnx_model = onnx.load(str(view), load_external_data=False)
    by_scope = {_scope(n.name or n.op_type): n for n in onnx_model.graph.node}
    nodes = [by_scope[s] for s in {n.rsplit("/", 1)[0].split("/")[-1] for n in names if "/" in n} if s in by_scope]
    producer = {out: n for n in onnx_model.graph.node for out in n.output}
    props = {p.key: p.value for p in onnx_model.metadata_props}
    torch_names = json.loads(props.get("bridge.parameters", "{}"))
    seen: set[str] = set()
    stack = [i for n in nodes for i in n.input]
    while stack:
        tensor = stack.pop()
        if tensor in seen or not tensor:
            continue
        seen.add(tensor)
        if tensor in producer:
            stack.extend(producer[tensor].input)
    return [n.name for n in nodes], {torch_names.get(t, t) for t in seen}


def tf_gradients(model: TrainableSavedModel, feeds: Mapping[str, Any], spec: LossSpec, mode: str
                 ) -> tuple[float, dict[str, Any], dict[str, Any], dict[str, str]]:
    """(loss, input gradients, parameter gradients, tensor -> why TF has no gradient for it)."""
    import numpy as np
    import tensorflow as tf

    inputs = {n: tf.constant(v) for n, v in feeds.items()}
    float_inputs = {n: t for n, t in inputs.items() if t.dtype.is_floating}
    sources = {**{("input", n): t for n, t in float_inputs.items()},
               **{("parameter", n): v for n, v in model.parameters.items()}}

    def gradients(keys: list[tuple[str, str]]) -> tuple[Any, list[Any]]:
        # a fresh, non-persistent tape each time: a persistent one over a SavedModel function is far slower
        with tf.GradientTape() as tape:
            for tensor in float_inputs.values():
                tape.watch(tensor)
            loss = tf_loss(model.forward(inputs, mode == "train"), spec)
        return loss, tape.gradient(loss, [sources[k] for k in keys], unconnected_gradients=tf.UnconnectedGradients.ZERO)

    grads: dict[tuple[str, str], Any] = {}
    missing: dict[str, str] = {}
    try:
        loss, values = gradients(list(sources))
        grads = dict(zip(sources, values))
    except LookupError as exc:
        # TF differentiates a SavedModel function as a whole, so no gradient at all comes back; the graph
        # tells which tensors lie upstream of the op (cut off) and which TF merely did not compute
        op_type = _no_gradient_op_type(exc) or first_line(exc)[:120]
        nodes, upstream = cut_off_by(model, op_type)
        where = f" (ONNX node {', '.join(nodes)})" if nodes else ""
        loss = tf.constant(float("nan"))
        for _, name in sources:
            missing[name] = (f"no TF gradient: {op_type}{where}" if name in upstream or not upstream
                             else f"not computed: TF cannot differentiate the function while it holds {op_type}")

    def dense(g: Any) -> Any:
        return np.asarray(tf.convert_to_tensor(g), dtype=np.float64)

    return (float(loss), {n: dense(g) for (k, n), g in grads.items() if k == "input"},
            {n: dense(g) for (k, n), g in grads.items() if k == "parameter"}, missing)


def _judge(name: str, kind: str, mode: str, g32: Any, g64: Any, gtf: Any, factor: float) -> GradientParity:
    import numpy as np

    result = GradientParity(name, kind, mode, passed=False)
    if gtf is None:
        result.problem = "no such variable in the SavedModel"
        return result
    if np.shape(gtf) != np.shape(g32):
        result.problem = f"shape {list(np.shape(gtf))} != PyTorch {list(np.shape(g32))}"
        return result
    if not (np.isfinite(gtf).all() and np.isfinite(g32).all()):
        result.problem = "non-finite gradient"
        return result
    result.max_abs = float(np.abs(gtf - g32).max()) if g32.size else 0.0
    result.norm = float(np.linalg.norm(g32))
    result.rel = result.max_abs / result.norm if result.norm > 0 else (0.0 if result.max_abs == 0 else float("inf"))
    result.noise_floor = float(np.abs(g32 - g64).max()) if g32.size else 0.0
    result.error = float(np.abs(gtf - g64).max()) if g32.size else 0.0
    scale = float(np.abs(g64).max()) if g64.size else 0.0
    result.noise_limit = noise_limit(result.noise_floor, scale, factor)
    floor = result.noise_floor
    result.noise_ratio = result.error / floor if floor > 0 else (0.0 if result.error == 0 else float("inf"))
    result.passed = result.error <= result.noise_limit
    return result


def gradient_parity(module: Any, artifact: Artifact, feeds: Mapping[str, Any], spec: LossSpec,
                    noise_factor: float = 8.0) -> tuple[list[GradientParity], list[str]]:
    """Every float input's and parameter's gradient in every mode; notes on what could not be compared."""
    model = TrainableSavedModel(artifact)
    modes, note = training_modes(module)
    notes = [note] if note else []
    results: list[GradientParity] = []
    for mode in modes:
        _, in32, par32 = torch_gradients(module, feeds, spec, mode)
        _, in64, par64 = torch_gradients(module, feeds, spec, mode, double=True)
        try:
            _, in_tf, par_tf, missing = tf_gradients(model, feeds, spec, mode)
        except Exception as exc:  # the SavedModel could not run forward: every tensor fails, with why
            why = f"TensorFlow forward failed: {type(exc).__name__}: {first_line(exc)[:160]}"
            for kind, names in (("input", in32), ("parameter", par32)):
                results += [GradientParity(n, kind, mode, passed=False, problem=why) for n in names]
            continue
        for kind, g32s, g64s, gtfs in (("input", in32, in64, in_tf), ("parameter", par32, par64, par_tf)):
            for name, g32 in g32s.items():
                if name in missing:
                    results.append(GradientParity(name, kind, mode, passed=False, problem=missing[name]))
                    continue
                results.append(_judge(name, kind, mode, g32, g64s[name], gtfs.get(name), noise_factor))
    ops = sorted({r.problem for r in results if r.problem.startswith("no TF gradient")})
    for op in ops:
        affected = [r.name for r in results if r.problem == op]
        notes.append(f"{op[len('no TF gradient: '):]} has no gradient in TensorFlow; it cuts off "
                     f"{len(affected)} tensor(s): {', '.join(dict.fromkeys(affected))}")
    return results, notes
