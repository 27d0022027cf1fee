"""The parity table printed on the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["parity_table", "print_parity", "print_bench"]


def _num(value: float) -> str:
    return f"{value:.2e}" if value else "0"


def parity_table(parity: Sequence[Any]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="parity", title_justify="left")
    labelled = any(stage.inputs for stage in parity)
    columns = ("inputs",) * labelled + ("format", "runtime", "device", "vs", "output", "max_abs", "max_rel", "atol", "rtol", "result")
    for col in columns:
        table.add_column(col, justify="right" if col in ("max_abs", "max_rel", "atol", "rtol") else "left")
    for stage in parity:
        if stage.quantize:  # judged by SNR and cosine: bridge.report.quant prints those
            continue
        lead = (stage.inputs,) * labelled + (escape(stage.label), stage.runtime, stage.device, stage.reference)
        if stage.error:
            table.add_row(*lead, "-", "", "", "", "", f"[red]FAIL[/] {stage.error}")
            continue
        for out in stage.outputs:
            verdict = "[green]pass[/]" if out.passed else f"[red]FAIL[/]{' ' + out.problem if out.problem else ''}"
            if getattr(out, "rule", "fixed") != "fixed":  # judged by another rule (e.g. detections as box sets)
                verdict += f" ({out.rule})"
            table.add_row(*lead, out.name, _num(out.max_abs), _num(out.max_rel), f"{out.atol:g}", f"{out.rtol:g}", verdict)
    return table


def print_parity(parity: Sequence[Any], console: Any = None) -> None:
    from rich.console import Console

    if console is None:
        console = Console() if Console().is_terminal else Console(width=140)
    if any(not getattr(stage, "quantize", "") for stage in parity):  # quantized stages have their own table
        console.print(parity_table(parity))


def print_bench(bench: Sequence[dict[str, Any]], overhead_ms: float | None = None, console: Any = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    if console is None:
        console = Console() if Console().is_terminal else Console(width=140)
    table = Table(title="latency", title_justify="left")
    for col in ("format", "runtime", "device", "batch", "threads", "runs", "p50 ms", "p90 ms", "p99 ms", "mean ms", "per s",
                "p50 / ORT", "p50 / float"):
        table.add_column(col, justify="left" if col in ("format", "runtime", "device") else "right")
    for b in bench:
        if b.get("error"):
            table.add_row(escape(b.get("label", b["format"])), b["runtime"], b["device"], str(b["batch"]), str(b.get("threads") or "-"), "-",
                          f"[red]{b['error']}[/]", "", "", "", "", "", "")
            continue
        table.add_row(escape(b.get("label", b["format"])), b["runtime"], b["device"], str(b["batch"]), str(b.get("threads") or "-"),
                      str(b["runs"]), f"{b['p50_ms']:.3f}", f"{b['p90_ms']:.3f}", f"{b['p99_ms']:.3f}",
                      f"{b['mean_ms']:.3f}", f"{b['throughput_per_s']:.1f}",
                      f"{b['p50_vs_onnxruntime']:.2f}x" if "p50_vs_onnxruntime" in b else "-",
                      f"{b['p50_vs_float_tflite']:.2f}x" if "p50_vs_float_tflite" in b else "-")
    console.print(table)
    if overhead_ms is not None:
        console.print(f"harness overhead per call (not in the timings): {overhead_ms:.3f} ms")
