"""ONNX's own node test cases against our ONNX->TF backend.

    python -m tools.conformance [--filter REGEX] [--jobs N] [--json conformance.json]

Generates the cases shipped with the installed onnx (``onnx.backend.test.case.node``) into a temporary
folder, converts each with our backend, runs it in TensorFlow and compares with the expected outputs at
the case's own tolerances (rtol 1e-3, atol 1e-7 by default; exact for integers, bools and strings).
Each case runs in a worker process; a worker that crashes or hangs fails that case and is replaced.
The last line printed is ``N passed, M failed, K skipped``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import warnings
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bridge.errors import first_line

CASE_TIMEOUT_S = 120
# Element types TensorFlow has no general kernels for; cases using them are skipped with this reason.
_NO_TF_KERNELS = {"FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "FLOAT8E8M0", "UINT4", "INT4",
                  "FLOAT4E2M1", "UINT2", "INT2"}


# -- generation -------------------------------------------------------------------------------------
def generate(root: Path, pattern: str | None) -> list[Path]:
    """Write each node case as ``model.onnx`` plus ``data_K.npz`` (inputs ``in_J``, outputs ``out_J``)."""
    import numpy as np
    from onnx.backend.test.case import node

    cases = []
    with warnings.catch_warnings():  # the case generators divide by zero on purpose (inf/nan cases)
        warnings.simplefilter("ignore")
        collected = node.collect_testcases(None)
    for case in collected:
        if pattern and not re.search(pattern, case.name):
            continue
        folder = root / case.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.onnx").write_bytes(case.model.SerializeToString())
        meta: dict[str, Any] = {"rtol": case.rtol, "atol": case.atol, "sets": 0, "nontensor": False, "bfloat16": []}
        for k, (inputs, outputs) in enumerate(case.data_sets):
            arrays = {}
            try:
                for prefix, values in (("in", inputs), ("out", outputs)):
                    for j, value in enumerate(values):
                        array = _as_array(value)
                        if array.dtype.name == "bfloat16":  # .npz can't hold ml_dtypes: store the bits
                            meta["bfloat16"].append(f"{prefix}_{j}")
                            array = array.view(np.uint16)
                        arrays[f"{prefix}_{j}"] = array
                np.savez(folder / f"data_{k}.npz", **arrays)
            except Exception:
                meta["nontensor"] = True
            meta["sets"] = k + 1
        (folder / "case.json").write_text(json.dumps(meta))
        cases.append(folder)
    return cases


def _as_array(value: Any) -> Any:
    import numpy as np
    import onnx
    from onnx import numpy_helper

    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    if isinstance(value, (list, dict)) or value is None:
        raise TypeError("not a tensor")
    array = np.asarray(value)
    if array.dtype == object:  # strings: fixed-width so the .npz needs no pickle
        array = array.astype(bytes if array.size and isinstance(array.flat[0], bytes) else str)
    return array


def _load(data: Any, key: str, meta: dict[str, Any]) -> Any:
    array = data[key]
    if key in meta.get("bfloat16", ()):
        import ml_dtypes

        array = array.view(ml_dtypes.bfloat16)
    return array


# -- one case (in a worker) -------------------------------------------------------------------------
def _main_op(model: Any) -> str:
    ops = Counter(n.op_type for n in model.graph.node if n.op_type != "Constant")
    return ops.most_common(1)[0][0] if ops else "Constant"


def _skip_reason(model: Any) -> str | None:
    import onnx

    def elem_types(values: Any) -> list[str]:
        names = []
        for v in values:
            if not v.type.HasField("tensor_type"):
                return ["NONTENSOR"]
            names.append(onnx.TensorProto.DataType.Name(v.type.tensor_type.elem_type))
        return names

    types = set(elem_types(model.graph.input)) | set(elem_types(model.graph.output))
    for init in model.graph.initializer:
        types.add(onnx.TensorProto.DataType.Name(init.data_type))
    if "NONTENSOR" in types:
        return "sequence, map or optional graph inputs/outputs: a TF signature takes only tensors"
    lacking = sorted(types & _NO_TF_KERNELS)
    if lacking:
        return f"TensorFlow has no kernels for {', '.join(lacking)}"
    return None


def _compare(expected: Any, actual: Any, rtol: float, atol: float) -> str | None:
    import numpy as np

    expected = np.asarray(expected)
    actual = np.asarray(actual)
    if expected.dtype.kind in "SUO":
        expected = expected.astype(object)
        actual = np.vectorize(lambda v: v.decode() if isinstance(v, bytes) else v, otypes=[object])(actual) if actual.size else actual.astype(object)
    if expected.shape != actual.shape:
        return f"shape {list(actual.shape)} != expected {list(expected.shape)}"
    if expected.dtype.kind in "biuO":
        if expected.dtype.kind != "O" and actual.dtype != expected.dtype:
            return f"dtype {actual.dtype} != expected {expected.dtype}"
        if not np.array_equal(expected, actual):
            return f"{int((expected != actual).sum())} of {expected.size} values differ (exact compare)"
        return None
    if actual.dtype != expected.dtype:
        return f"dtype {actual.dtype} != expected {expected.dtype}"
    if expected.dtype.name == "bfloat16":
        rtol = max(rtol, 2**-6)  # two bfloat16 ULPs, as onnx's own backend test runner allows
    e = expected.astype(np.float64)
    a = actual.astype(np.float64)
    same_nan = np.isnan(e) & np.isnan(a)
    close = np.isclose(a, e, rtol=rtol, atol=atol) | same_nan | ((e == a) & ~np.isfinite(e))
    if not close.all():
        diff = np.where(close, 0, np.abs(a - e))
        return f"max abs error {np.nanmax(diff):.3g} over {int((~close).sum())} of {e.size} values"
    return None


def run_case(folder: Path) -> dict[str, Any]:
    import numpy as np
    import onnx

    from bridge._frameworks import import_tensorflow
    from bridge.errors import BridgeError, UnsupportedError
    from bridge_converters.onnx_tf import build_program

    tf = import_tensorflow()
    meta = json.loads((folder / "case.json").read_text())
    model = onnx.load(str(folder / "model.onnx"))
    result: dict[str, Any] = {"op": _main_op(model)}
    reason = _skip_reason(model) or ("its data cannot be stored as plain arrays" if meta["nontensor"] else None)
    if reason:
        return {**result, "status": "skipped", "reason": reason}
    try:
        program = build_program(model, use_variables=False)
    except UnsupportedError as exc:
        return {**result, "status": "failed", "reason": f"unsupported: {exc}"}
    except BridgeError as exc:
        return {**result, "status": "failed", "reason": f"convert: {exc}"}
    except Exception as exc:
        return {**result, "status": "failed", "reason": f"convert: {type(exc).__name__}: {first_line(exc)}"}
    out_names = [program.output_map[o.name] for o in model.graph.output]
    for k in range(meta["sets"]):
        with np.load(folder / f"data_{k}.npz", allow_pickle=False) as data:
            n_in = sum(1 for key in data.files if key.startswith("in_"))
            inputs = [_load(data, f"in_{j}", meta) for j in range(n_in)]
            expected = [_load(data, f"out_{j}", meta) for j in range(len(out_names))]
        try:
            feeds = [tf.constant(v) for v in inputs]
            outputs = program.function(*feeds)
        except Exception as exc:
            return {**result, "status": "failed", "reason": f"run: {type(exc).__name__}: {first_line(exc)}"}
        for name, want in zip(out_names, expected):
            problem = _compare(want, outputs[name].numpy(), meta["rtol"], meta["atol"])
            if problem:
                return {**result, "status": "failed", "reason": f"output {name}: {problem}"}
    return {**result, "status": "passed"}



def _worker() -> None:
    """Read case folders on stdin, answer one JSON line each on the original stdout."""
    out = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # TF and handlers must not corrupt the protocol
    for line in sys.stdin:
        folder = Path(line.strip())
        try:
            result = run_case(folder)
        except Exception as exc:  # the harness must go on; the case fails with its cause
            result = {"op": "?", "status": "failed", "reason": f"harness: {type(exc).__name__}: {first_line(exc)}"}
        out.write(json.dumps(result) + "\n")
        out.flush()


# -- the driver -------------------------------------------------------------------------------------
def run_all(cases: list[Path], jobs: int, timeout: float = CASE_TIMEOUT_S) -> dict[str, dict[str, Any]]:
    """Each case in a worker process; a crash or a hang fails that case, and the worker is replaced."""
    from bridge.workers import WorkerPool

    results: dict[str, dict[str, Any]] = {}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1"}

    def answered(task: str, result: dict[str, Any], _worker: Any) -> None:
        results[Path(task).name] = result
        _progress(len(results), len(cases))

    def failed(task: str, kind: str, detail: str, _worker: Any) -> None:
        reason = f"crashed the process ({detail})" if kind == "died" else f"timed out ({detail})"
        answered(task, {"op": "?", "status": "failed", "reason": reason}, _worker)

    pool = WorkerPool(lambda _n: [sys.executable, "-m", "tools.conformance", "--worker"], jobs, timeout, env)
    pool.run([str(c) for c in cases], answered, failed)
    return results


def _progress(done: int, total: int) -> None:
    if sys.stderr.isatty():
        print(f"\r{done}/{total}", end="", file=sys.stderr, flush=True)


def summarize(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    import onnx

    counts = Counter(r["status"] for r in results.values())
    per_op: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results.values():
        per_op[r["op"]][r["status"]] += 1
    return {
        "onnx_version": onnx.__version__,
        "passed": counts["passed"],
        "failed": counts["failed"],
        "skipped": counts["skipped"],
        "per_op": {op: dict(sorted(c.items())) for op, c in sorted(per_op.items())},
        "cases": {name: results[name] for name in sorted(results)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.conformance", description=__doc__.split("\n\n")[0])
    parser.add_argument("--filter", help="only cases whose name matches this regular expression")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", dest="json_path", help="write statuses, reasons and the per-op summary here")
    parser.add_argument("--show-failures", action="store_true", help="print each failed case and its reason")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker()
        return 0
    with tempfile.TemporaryDirectory(prefix="bridge-conformance-") as tmp:
        cases = generate(Path(tmp), args.filter)
        results = run_all(cases, args.jobs)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    summary = summarize(results)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(summary, indent=1, sort_keys=False) + "\n")
    if args.show_failures:
        for name, r in summary["cases"].items():
            if r["status"] != "passed":
                print(f"{r['status']:8} {name}: {r.get('reason', '')}")
    print(f"{summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
