"""``make bench``: what a deployment of bridge's artifacts sees, against ONNX Runtime and native Keras.

    python -m benchmarks.run [--threads 2] [--rounds 5] [--seconds 5] [--only resnet50,...] [--skip-tiny]
                             [--skip-memory] [--json benchmarks/results.json]

For each model (ResNet-50, MobileNetV2 and a BERT-style encoder from ``transformers`` configs with random
weights, the FPN text detector, then the fixture zoo's models under 1M parameters): PyTorch -> ONNX ->
SavedModel -> TFLite through ``bridge.convert`` with parity checked, the SavedModel again with ``--xla``,
and for the CNNs the same architecture written in Keras and converted by TensorFlow's own converter. Every
artifact is then timed alone in its own process with the same thread count, in alternating rounds
(``bridge.verify.bench_rounds``); a ratio is the median of per-round ratios measured in this one run.
Conversion seconds exclude framework imports (a warm-up conversion runs first). Last, a generated
transformer with more than 2 GB of weights in external data is converted and verified in a subprocess
that reports its peak RSS (``benchmarks.memory``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.models import BenchModel, tiny_models, torch_models
from benchmarks.rows import RATIOS, ROW_KINDS, Case, Timed

ROOT = Path(__file__).resolve().parents[1]


def _paired_ratio(num: dict[str, Any] | None, den: dict[str, Any] | None) -> float | None:
    """Median over rounds of num's round p50 / den's round p50 (both measured in the same rounds)."""
    if not num or not den or num.get("error") or den.get("error"):
        return None
    a, b = num.get("round_p50_ms") or [], den.get("round_p50_ms") or []
    if not a or len(a) != len(b) or not all(x > 0 for x in b):
        return None
    return round(statistics.median(x / y for x, y in zip(a, b)), 3)


def _parity(results: list[Any]) -> dict[str, Any]:
    stages = [p for r in results for p in r.parity]
    worst = max((o.max_abs for p in stages for o in p.outputs), default=0.0)
    errors = sorted({f"{p.format} vs {p.reference}: {p.error}"[:160] for p in stages if p.error})
    return {"passed": all(r.passed for r in results), "max_abs": worst, **({"errors": errors} if errors else {})}


def _convert(model: BenchModel, module: Any, feeds: dict[str, Any], out: Path) -> tuple[dict[str, Any], list[Any]]:
    import bridge

    if not model.dynamic:
        result = bridge.convert(module, to="tflite", out_dir=out, inputs=feeds, quiet=True)
        return {a.format: a for a in result.artifacts}, [result]
    # a detector as other tools export it: dynamic H and W, then fixed for deployment with --input-shape
    exported = bridge.convert(module, to="onnx", out_dir=out, inputs=feeds, dynamic=model.dynamic, quiet=True)
    onnx_artifact = exported.artifacts[0]
    lite = bridge.convert(onnx_artifact.path, to="tflite", out_dir=out / "tflite", input_shapes=model.input_shapes,
                          quiet=True)
    return {"onnx": onnx_artifact, **{a.format: a for a in lite.artifacts}}, [exported, lite]


def _bench(timed: list[Timed], plan: Any) -> dict[str, dict[str, Any]]:
    from bridge.verify.bench_rounds import run_bench

    outcome = run_bench([t.target for t in timed], [t.feeds for t in timed], "cpu", plan)
    return {t.label: entry for t, entry in zip(timed, outcome.entries)}


def _workdir(prefix: str, keep: Path | None) -> Any:
    """A scratch folder, removed afterwards unless it is made under ``--keep``."""
    if keep is None:
        return tempfile.TemporaryDirectory(prefix=prefix)
    return contextlib.nullcontext(tempfile.mkdtemp(prefix=prefix, dir=keep))


def run_case(model: BenchModel, plan: Any, keep: Path | None) -> dict[str, Any]:
    from bridge.verify.denormal import denormal_warnings

    print(f"-- {model.name}", file=sys.stderr, flush=True)
    module = model.build()
    feeds = model.feeds()
    record: dict[str, Any] = {"model": model.name, "parameters": sum(p.numel() for p in module.parameters())}
    with _workdir(f"bench-{model.name}-", keep) as tmp:
        out = Path(tmp)
        artifacts, results = _convert(model, module, feeds, out)
        del module
        record["parity"] = _parity(results)
        record["convert_seconds"] = {f: round(a.convert_seconds, 2) for f, a in artifacts.items()}
        if "tf" in artifacts and "tflite" in artifacts:
            record["convert_seconds"]["onnx_to_tflite"] = round(artifacts["tf"].convert_seconds
                                                                + artifacts["tflite"].convert_seconds, 2)
        record["graph"] = {f: a.graph for f, a in artifacts.items() if a.graph}
        case = Case(model, out, artifacts, model.bench_feeds() if model.bench_feeds else feeds, record)
        timed = [t for kind in ROW_KINDS.values() for t in kind(case)]
        entries = _bench(timed, plan)
        if "keras_tflite" in entries:
            from bridge.inspect.figures import graph_figures

            record["graph"]["keras_tflite"] = graph_figures(next(t.target.path for t in timed if t.label == "keras_tflite")).to_json()
        record["bench"] = entries
        record["ratios"] = {name: _paired_ratio(entries.get(a), entries.get(b)) for name, a, b in RATIOS}
        record["bench_warnings"] = denormal_warnings([artifacts["onnx"]], case.feeds)
    return record


def run_tiny(source: str, plan: Any, keep: Path | None = None) -> dict[str, Any]:
    import bridge

    print(f"-- {source}", file=sys.stderr, flush=True)
    name = source.rpartition(".")[2]  # text:BertEncoder
    with _workdir(f"bench-{name.replace(':', '-')}-", keep) as tmp:
        result = bridge.convert(source, to="tflite", out_dir=tmp, quiet=True)
        artifacts = {a.format: a for a in result.artifacts}
        timed = [Timed(f, artifacts[f], dict(result.inputs)) for f in ("onnx", "tf", "tflite")]
        entries = _bench(timed, plan)
    return {"model": name, "parity": _parity([result]),
            "convert_seconds": {f: round(a.convert_seconds, 2) for f, a in artifacts.items()},
            "graph": {f: a.graph for f, a in artifacts.items() if a.graph},
            "ratios": {"tf/ort": _paired_ratio(entries["tf"], entries["onnx"]),
                       "tflite/ort": _paired_ratio(entries["tflite"], entries["onnx"])},
            "bench": entries}


def warm_up() -> None:
    """Import the frameworks and run every converter once, so that conversion seconds exclude imports."""
    import bridge

    with tempfile.TemporaryDirectory(prefix="bench-warmup-") as tmp:
        bridge.convert("fixtures/models/seed_mlp.py:SeedMLP", to="tflite", out_dir=tmp, quiet=True)


def run_memory(threads: int) -> dict[str, Any]:
    print("-- memory: a generated transformer with > 2 GB of external weights", file=sys.stderr, flush=True)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.memory", "--json-stdout"], cwd=ROOT, capture_output=True,
                          text=True, timeout=3600, env={**__import__("os").environ, "OMP_NUM_THREADS": str(threads)})
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    from bridge.verify.bench_rounds import BenchPlan
    from benchmarks.table import print_tables

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per runtime and model, over all rounds")
    parser.add_argument("--only", default="", help="comma-separated model names (resnet50, mobilenet_v2, bert_encoder, fpn_detector)")
    parser.add_argument("--skip-tiny", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the artifacts under this folder")
    parser.add_argument("--json", dest="json_path", type=Path)
    args = parser.parse_args(argv)

    plan = BenchPlan(threads=[args.threads], rounds=args.rounds, min_seconds=args.seconds)
    only = {n for n in args.only.split(",") if n}
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    warm_up()
    results: dict[str, Any] = {"command": " ".join(["python -m benchmarks.run", *(argv or sys.argv[1:])]),
                               "threads": args.threads, "rounds": args.rounds, "seconds_per_runtime": args.seconds,
                               "models": [], "tiny": []}
    def save() -> None:  # after every case, so that a long run interrupted still leaves its numbers
        if args.json_path:
            args.json_path.write_text(json.dumps(results, indent=2, default=float) + "\n")

    for model in torch_models():
        if not only or model.name in only:
            results["models"].append(run_case(model, plan, args.keep))
            save()
    if not args.skip_tiny and not only:
        tiny_plan = BenchPlan(threads=[args.threads], rounds=args.rounds, min_seconds=min(args.seconds, 2.0))
        for source in tiny_models():
            results["tiny"].append(run_tiny(source, tiny_plan, args.keep))
            save()
        tf_ratios = [r["ratios"]["tf/ort"] for r in results["tiny"] if r["ratios"]["tf/ort"] is not None]
        lite_ratios = [r["ratios"]["tflite/ort"] for r in results["tiny"] if r["ratios"]["tflite/ort"] is not None]
        results["tiny_median"] = {"tf/ort": statistics.median(tf_ratios) if tf_ratios else None,
                                  "tflite/ort": statistics.median(lite_ratios) if lite_ratios else None}
    if not args.skip_memory:
        results["memory"] = run_memory(args.threads)
    print_tables(results)
    save()


if __name__ == "__main__":
    main()
