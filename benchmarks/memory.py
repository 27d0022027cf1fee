"""Peak memory of converting and verifying a model whose weights are bigger than memory should allow.

    python -m benchmarks.memory [--hidden 2048] [--layers 12] [--json-stdout]

A pre-norm transformer (LayerNorm, attention with Q/K/V/O projections, an Erf-GELU MLP of 4x width) is
written straight to ONNX with every weight in external data, one tensor at a time (12 layers of hidden
2048: 2.4 GB of float32). A fresh process then runs ``bridge.convert(model.onnx, to="tf")`` with parity
checked against ONNX Runtime, and reports its peak resident memory (``ru_maxrss``). The target: peak RSS
<= 1.5 x the weight bytes + 2 GiB, which holds only when weights stream (one copy, TensorFlow's) and one
runtime is freed before the next loads.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_transformer", "measure"]

SEQ = 16


def write_transformer(path: Path, hidden: int, layers: int, heads: int = 16) -> int:
    """Write the model to ``path`` with its weights in ``path.name + '.data'``; returns the weight bytes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    data_name = path.name + ".data"
    inits: list[Any] = []
    offset = 0
    with open(path.parent / data_name, "wb") as data:

        def external(name: str, shape: tuple[int, ...], scale: float) -> str:
            nonlocal offset
            value = (rng.standard_normal(shape, dtype=np.float32) * np.float32(scale)).astype(np.float32)
            data.write(value.tobytes())
            tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=list(shape),
                                 data_location=TensorProto.EXTERNAL)
            for key, val in (("location", data_name), ("offset", str(offset)), ("length", str(value.nbytes))):
                tensor.external_data.add(key=key, value=val)
            offset += value.nbytes
            inits.append(tensor)
            return name

        def const(name: str, value: Any) -> str:
            inits.append(numpy_helper.from_array(np.asarray(value), name))
            return name

        head = hidden // heads
        const("split_heads", np.array([1, SEQ, heads, head], np.int64))
        const("merge_heads", np.array([1, SEQ, hidden], np.int64))
        const("scale", np.array(1 / math.sqrt(head), np.float32))
        const("half", np.array(0.5, np.float32))
        const("one", np.array(1.0, np.float32))
        const("rsqrt2", np.array(1 / math.sqrt(2), np.float32))
        const("gamma", np.ones(hidden, np.float32))
        const("beta", np.zeros(hidden, np.float32))
        nodes, x = [], "x"
        for i in range(layers):
            def n(op: str, inputs: list[str], **attrs: Any) -> str:
                out = f"l{i}_{op.lower()}_{len(nodes)}"
                nodes.append(helper.make_node(op, inputs, [out], **attrs))
                return out

            h = n("LayerNormalization", [x, "gamma", "beta"], axis=-1)
            q, k, v = (n("Transpose", [n("Reshape", [n("MatMul", [h, external(f"l{i}_w{p}", (hidden, hidden), hidden ** -0.5)]),
                                                    "split_heads"])], perm=[0, 2, 1, 3]) for p in "qkv")
            scores = n("Mul", [n("MatMul", [q, n("Transpose", [k], perm=[0, 1, 3, 2])]), "scale"])
            ctx = n("MatMul", [n("Softmax", [scores], axis=-1), v])
            merged = n("Reshape", [n("Transpose", [ctx], perm=[0, 2, 1, 3]), "merge_heads"])
            x = n("Add", [x, n("MatMul", [merged, external(f"l{i}_wo", (hidden, hidden), hidden ** -0.5)])])
            h = n("LayerNormalization", [x, "gamma", "beta"], axis=-1)
            up = n("MatMul", [h, external(f"l{i}_w1", (hidden, 4 * hidden), hidden ** -0.5)])
            gelu = n("Mul", [n("Mul", [up, "half"]), n("Add", [n("Erf", [n("Mul", [up, "rsqrt2"])]), "one"])])
            x = n("Add", [x, n("MatMul", [gelu, external(f"l{i}_w2", (4 * hidden, hidden), (4 * hidden) ** -0.5)])])
        nodes.append(helper.make_node("Identity", [x], ["y"]))
    graph = helper.make_graph(nodes, "transformer", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, SEQ, hidden])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, SEQ, hidden])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return offset


def measure(path: Path, out: Path) -> dict[str, Any]:
    """Convert and verify in this process; report its peak RSS."""
    import bridge

    start = time.perf_counter()
    result = bridge.convert(path, to="tf", out_dir=out, quiet=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    worst = max((o.max_abs for p in result.parity for o in p.outputs), default=None)
    return {"peak_rss_bytes": peak, "passed": result.passed, "max_abs": worst,
            "seconds": round(time.perf_counter() - start, 1),
            "convert_seconds": round(result.artifacts[0].convert_seconds, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the measured child: MODEL.onnx
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--json-stdout", action="store_true", help="print the result as one JSON line")
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.out)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        path = Path(tmp) / "transformer.onnx"
        weight_bytes = write_transformer(path, args.hidden, args.layers)
        child = subprocess.run([sys.executable, "-m", "benchmarks.memory", "--measure", str(path), "--out", str(Path(tmp) / "out")],
                               capture_output=True, text=True)
        if child.returncode != 0:
            raise SystemExit(f"the measured conversion failed: {(child.stderr.strip().splitlines() or ['?'])[-1]}")
        report = json.loads(child.stdout.strip().splitlines()[-1])
    limit = int(1.5 * weight_bytes + 2 * 2**30)
    report.update(weight_bytes=weight_bytes, hidden=args.hidden, layers=args.layers, limit_bytes=limit,
                  within_limit=report["peak_rss_bytes"] <= limit)
    if args.json_stdout:
        print(json.dumps(report))
    else:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
