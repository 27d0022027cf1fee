"""The one table ``make bench`` prints (and the lines under it): ratios, conversion seconds, op figures."""

from __future__ import annotations

from typing import Any

from benchmarks.rows import RATIOS

__all__ = ["print_tables"]


def _num(value: Any, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _figures(graph: dict[str, Any] | None) -> str:
    if not graph or "ops" not in graph:
        return "-"
    text = f"{graph['ops']} ops, {graph['transposes']} T, {graph['casts']} cast"
    if graph.get("flex_ops"):
        text += f", {graph['flex_ops']} Flex"
    if graph.get("xnnpack_share") is not None:
        text += f", XNNPACK {graph['xnnpack_share']:.0%}"
    return text


def print_tables(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=220)
    table = Table(title=f"make bench: {results['threads']} threads, {results['rounds']} alternating rounds, "
                        "ratios = median of per-round latency ratios (lower is faster)", title_justify="left")
    columns = ["model", "params", "parity", "ONNX→TF s", "→TFLite s", *(name for name, _, _ in RATIOS),
               "ORT p50 ms", "TFLite graph", "Keras TFLite graph"]
    for col in columns:
        table.add_column(col, justify="left" if col in ("model", "parity") or "graph" in col else "right")
    for r in results["models"] + results.get("tiny", []):
        seconds = r.get("convert_seconds", {})
        ort = (r.get("bench") or {}).get("onnx") or {}
        parity = r.get("parity", {})
        table.add_row(
            r["model"], f"{r['parameters'] / 1e6:.1f}M" if "parameters" in r else "",
            ("pass" if parity.get("passed") else "FAIL") + f" {parity.get('max_abs', 0):.0e}",
            _num(seconds.get("tf")), _num(seconds.get("onnx_to_tflite", seconds.get("tflite"))),
            *(_num(r.get("ratios", {}).get(name)) for name, _, _ in RATIOS),
            _num(ort.get("p50_ms"), 3), _figures(r.get("graph", {}).get("tflite")),
            _figures(r.get("graph", {}).get("keras_tflite")))
    if "tiny_median" in results:
        median = results["tiny_median"]
        table.add_row("tiny models, median", "", "", "", "", _num(median.get("tf/ort")), _num(median.get("tflite/ort")),
                      *([""] * (len(RATIOS) - 2)), "", "", "")
    console.print(table)
    for r in results["models"] + results.get("tiny", []):
        for name, entry in (r.get("bench") or {}).items():
            if entry.get("error"):
                console.print(f"{r['model']} {name}: not timed: {entry['error']}")
        for problem in r.get("parity", {}).get("errors", []):
            console.print(f"{r['model']} parity: {problem}")
        for warning in r.get("bench_warnings", []):
            console.print(f"{r['model']} warning: {warning}")
    memory = results.get("memory")
    if memory:
        if memory.get("error"):
            console.print(f"memory: {memory['error']}")
        else:
            console.print(f"memory: {memory['weight_bytes'] / 2**30:.2f} GiB of float32 weights in external data; "
                          f"convert + verify peak RSS {memory['peak_rss_bytes'] / 2**30:.2f} GiB "
                          f"(limit 1.5 x weights + 2 GiB = {memory['limit_bytes'] / 2**30:.2f} GiB): "
                          f"{'within' if memory['within_limit'] else 'OVER'}; parity {'pass' if memory['passed'] else 'FAIL'}")


if __name__ == "__main__":  # python -m benchmarks.table benchmarks/results.json: the table again
    import json
    import sys

    print_tables(json.loads(open(sys.argv[1]).read()))
