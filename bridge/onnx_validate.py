"""Is a parsed ONNX model a valid graph? Every "no" is a one-line UsageError (exit 2), never a crash.

The ONNX checker alone accepts unknown opset versions, duplicate graph outputs and type mismatches
(``Add`` of float and int64); strict type and shape inference catches the latter. Invalid models must
stop here: converters and ONNX Runtime (the verification step) can crash the process on them.

ONNX's own C++ checker and inference can abort the process too (onnx 1.23: a ``Conv`` with
``auto_pad=VALID`` and a kernel larger than its input infers a negative dim, and a ``Slice`` after it
fails a ``std::clamp`` assertion), so on Linux they run in a forked child; a child that dies or hangs
means the model is rejected, and the parent lives on.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.errors import UsageError, first_line
from bridge.onnx_graphs import walk_graphs, walk_nodes

__all__ = ["check_model_semantics", "run_isolated", "INFERENCE_TIMEOUT_S"]

INFERENCE_TIMEOUT_S = 300.0


def check_model_semantics(model: Any, label: str = "the model", timeout_s: float = INFERENCE_TIMEOUT_S,
                          path: Path | None = None) -> list[str]:
    """Raise UsageError naming the first problem that makes ``model`` an invalid ONNX model.

    Hints (value_info, declared output shapes) that contradict shape inference are dropped from ``model``
    in place, and exporter idioms ONNX Runtime accepts are normalised (``bridge.onnx_hints``); the
    returned warnings say what was changed. ``path``: the file ``model`` was parsed from, unchanged since;
    the checker needs it to find external data (which ``bridge.external_data`` has vetted by then), and a
    file whose bytes passed before is not checked again.
    """
    import json

    import onnx

    from bridge.external_data import external_tensors
    from bridge.onnx_hints import drop_hints, hint_warnings, normalize_idioms

    graph = model.graph
    if not graph.output:
        raise UsageError(f"{label}: the graph declares no outputs; the ONNX model is invalid, re-export it")
    warnings = normalize_idioms(model)
    _check_opsets(model, label)
    _check_names(graph, label)
    _check_tensors(graph, label)
    known_types = set(onnx.TensorProto.DataType.values()) - {onnx.TensorProto.UNDEFINED}
    for value in [*graph.input, *graph.output]:
        kind = value.type.WhichOneof("value")
        if kind is None or (kind == "tensor_type" and value.type.tensor_type.elem_type not in known_types):
            raise UsageError(f"{label}: graph input/output '{value.name}' has no known element type; "
                             "the ONNX model is invalid")
    seen: set[str] = set()
    for out in graph.output:
        if out.name in seen:
            raise UsageError(f"{label}: graph output '{out.name}' is listed twice; the ONNX model is invalid")
        seen.add(out.name)
    external = path is not None and any(True for _ in external_tensors(graph))
    key = _file_key(path)
    answer = _VERDICTS.get(key) if key else None
    if answer is None:
        answer = run_isolated(lambda m: _onnx_checks(m, path if external else None), model, timeout_s)
    found = json.loads(answer) if answer and answer.startswith("{") else {"problem": answer}
    if key and answer and not found.get("problem"):
        _VERDICTS[key] = answer
        while len(_VERDICTS) > 64:
            del _VERDICTS[next(iter(_VERDICTS))]
    if found.get("problem"):
        raise UsageError(f"{label} {found['problem']}")
    warnings += found.get("notes", [])
    hints = [tuple(h) for h in found.get("hints", [])]
    if hints:
        drop_hints(model, {h[1] for h in hints})
        warnings += hint_warnings(hints)  # type: ignore[arg-type]
    return warnings


# The isolated checks' answer for a file passed before, by its path and the digest of its bytes. One
# conversion reads its ONNX file several times (the source, the ONNX -> TF converter, verification), and
# ResNet-50's checks take about 1 s each (the fork, the checker and strict inference over 100 MB of
# weights) where the digest takes 0.1 s. Bytes, not the modification time: a file rewritten in place
# within the clock's resolution (the fuzzer flips bits) would otherwise keep the verdict of its old bytes.
_VERDICTS: dict[tuple[str, str], str] = {}


def _file_key(path: Path | None) -> tuple[str, str] | None:
    if path is None:
        return None
    import hashlib

    try:
        with path.open("rb") as f:
            return str(path.resolve()), hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


def _onnx_checks(model: Any, path: Path | None) -> str:
    """The checker and strict inference; a JSON answer: {"problem": ...} or {"hints": [contradicted hints]}."""
    import json

    import onnx

    from bridge.onnx_hints import contradicting_hints, strip_hints

    notes: list[str] = []
    try:
        # From a path the checker resolves external data next to the model; from a proto, next to the cwd.
        onnx.checker.check_model(str(path) if path is not None else model)
    except Exception as exc:
        message = first_line(exc)
        # An op ONNX Runtime itself defines (its optimisers write default-domain LayerNormalization below
        # opset 17, for one) is not the model's fault: ONNX Runtime is the judge of what is valid.
        if "No Op registered" not in message or not _onnxruntime_loads(model, path):
            return json.dumps({"problem": f"failed the ONNX checker: {message}"})
        notes.append(f"the ONNX checker does not know an op ONNX Runtime defines ({message}); ONNX Runtime loads "
                     "the model, so it is checked there")
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        if _impossible_shapes(inferred) is None:
            return json.dumps({"notes": notes})
    except Exception:
        pass
    # What failed may be a hint: infer once more without any, and only what still fails is the model's fault.
    try:
        inferred = onnx.shape_inference.infer_shapes(strip_hints(model), check_type=True, strict_mode=True)
    except Exception as exc:
        return json.dumps({"problem": f"failed ONNX type and shape inference: {first_line(exc)}"})
    problem = _impossible_shapes(inferred)
    if problem:
        return json.dumps({"problem": problem})
    return json.dumps({"hints": contradicting_hints(model, inferred), "notes": notes})


def _onnxruntime_loads(model: Any, path: Path | None) -> bool:
    """Whether ONNX Runtime accepts the model (run only where the ONNX checker did not: in the isolated child)."""
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        source = str(path) if path is not None else model.SerializeToString()
        ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception:
        return False
    return True


# A window op whose output has a spatial dim of 0 had a kernel larger than its padded input. ONNX
# inference lets that through, TensorFlow's MaxPool kernel dies of SIGFPE on it.
_WINDOW_OPS = {"Conv", "ConvInteger", "QLinearConv", "MaxPool", "AveragePool", "LpPool"}


def _impossible_shapes(inferred: Any) -> str | None:
    graph = inferred.graph
    shapes = {}
    for value in [*graph.value_info, *graph.output]:
        if value.type.HasField("tensor_type") and value.type.tensor_type.HasField("shape"):
            shapes[value.name] = [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
    for name, dims in shapes.items():
        if any(d is not None and d < 0 for d in dims):
            return f"has an impossible shape for '{name}' ({dims}); the ONNX model is invalid"
    for node in graph.node:
        if node.op_type in _WINDOW_OPS and node.domain in ("", "ai.onnx") and node.output:
            dims = shapes.get(node.output[0], [])
            if any(d == 0 for d in dims[2:]):
                return (f"node '{node.name or node.op_type}' ({node.op_type}) has a kernel larger than its padded "
                        f"input (output shape {dims}); the ONNX model is invalid")
    return None


def _check_names(graph: Any, label: str) -> None:
    """Names are UTF-8 text in ONNX; protobuf hands back ``bytes`` for anything else (a damaged file)."""

    def bad(*names: Any) -> bool:
        return any(not isinstance(n, str) for n in names)

    for g in walk_graphs(graph):
        for value in [*g.input, *g.output, *g.value_info, *g.initializer]:
            if bad(value.name):
                raise UsageError(f"{label}: a value is named {value.name!r}, which is not UTF-8; the ONNX model is damaged")
        for node in g.node:
            if bad(node.name, node.op_type, node.domain, *node.input, *node.output, *(a.name for a in node.attribute)):
                raise UsageError(f"{label}: node {node.name!r} ({node.op_type!r}) has a name that is not UTF-8; "
                                 "the ONNX model is damaged")


def _check_tensors(graph: Any, label: str) -> None:
    """Each stored tensor holds exactly as many values as its dims say (the checker only catches too few)."""
    import onnx

    for g in walk_graphs(graph):
        for tensor in g.initializer:
            _check_tensor(tensor, label)
        for node in g.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    _check_tensor(attr.t, label)


def _check_tensor(tensor: Any, label: str) -> None:
    import math

    import onnx

    if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.data_type == onnx.TensorProto.STRING:
        return
    if any(d < 0 for d in tensor.dims):
        raise UsageError(f"{label}: tensor '{tensor.name}' has negative dims {list(tensor.dims)}; the ONNX model is invalid")
    count = math.prod(tensor.dims)
    try:
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except Exception:
        return  # an element type the checker reports, or a sub-byte one numpy has no size for
    if tensor.data_type in (onnx.TensorProto.INT4, onnx.TensorProto.UINT4, onnx.TensorProto.FLOAT4E2M1):
        return
    complex_type = tensor.data_type in (onnx.TensorProto.COMPLEX64, onnx.TensorProto.COMPLEX128)
    if tensor.HasField("raw_data"):
        have, want, unit = len(tensor.raw_data), count * itemsize, "bytes"
    else:
        have = sum(len(f) for f in (tensor.float_data, tensor.int32_data, tensor.int64_data, tensor.double_data,
                                    tensor.uint64_data))
        want, unit = count * (2 if complex_type else 1), "values"
    if have != want:
        raise UsageError(f"{label}: tensor '{tensor.name}' holds {have} {unit} but its dims {list(tensor.dims)} "
                         f"need {want}; the ONNX model is damaged")


def _check_opsets(model: Any, label: str) -> None:
    """Every opset import names a version this onnx knows; the default domain must be imported."""
    import onnx.defs

    known = onnx.defs.C.schema_version_map()  # domain -> (first, last) version
    versions: dict[str, int] = {}
    for entry in model.opset_import:
        domain = "" if entry.domain == "ai.onnx" else entry.domain
        shown = domain or "ai.onnx"
        versions[domain] = int(entry.version)
        if domain in known:
            first, last = known[domain]
            if not first <= entry.version <= last:
                raise UsageError(f"{label} imports opset {entry.version} of '{shown}'; this onnx knows versions "
                                 f"{first} to {last}; re-export with a supported --opset")
        elif entry.version < 1:
            raise UsageError(f"{label}: opset domain '{shown}' has version {entry.version}; the ONNX model is invalid")
    # A model of ai.onnx.ml ops only (OnnxMLTools writes these) needs no default-domain import; ORT runs it.
    if "" not in versions and model.ir_version >= 3 and any(
            n.domain in ("", "ai.onnx") for n in walk_nodes(model.graph)):
        raise UsageError(f"{label} uses ai.onnx ops but imports no ai.onnx opset; the ONNX model is invalid, re-export it")


def run_isolated(check: Callable[[Any], str | None], model: Any, timeout_s: float) -> str | None:
    """``check(model)`` in a forked child where the platform allows it; its death or hang is a finding."""
    if not sys.platform.startswith("linux"):
        return check(model)
    import select
    import signal
    import warnings

    read_fd, write_fd = os.pipe()
    try:
        with warnings.catch_warnings():  # 3.12+ warns about fork in a threaded process; the child only checks
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return check(model)
    if pid == 0:  # the child: check, send the answer, leave without running any parent cleanup
        code = 0
        try:
            os.close(read_fd)
            quiet = os.open(os.devnull, os.O_WRONLY)  # an abort's message must not reach the user's terminal
            os.dup2(quiet, 1)
            os.dup2(quiet, 2)
            import faulthandler

            faulthandler.disable()  # it writes to its own copy of stderr; the parent reports for the child
            data = memoryview((check(model) or "").encode("utf-8", "replace"))
            while data:
                data = data[os.write(write_fd, data):]
        except BaseException:
            code = 70
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_fd], [], [], left)[0]:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        _, status = os.waitpid(pid, 0)
    if timed_out:
        return f"was not through ONNX checking and shape inference after {timeout_s:g}s; is it a valid model?"
    if os.WIFSIGNALED(status) or os.WEXITSTATUS(status) != 0:
        how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit status {os.WEXITSTATUS(status)}"
        return f"crashed ONNX checking and shape inference ({how}); the ONNX model is malformed, re-export it"
    return b"".join(chunks).decode("utf-8", "replace") or None


