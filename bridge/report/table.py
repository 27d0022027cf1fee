"""The parity table printed on the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["parity_table", "print_parity", "print_bench", "print_gradients", "print_train_steps"]


def _num(value: float) -> str:
    return f"{value:.2e}" if value else "0"


def _db(value: float) -> str:
    return "inf" if value == float("inf") else f"{value:.1f}"


def parity_table(parity: Sequence[Any]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="parity", title_justify="left")
    labelled = any(stage.inputs for stage in parity)
    columns = ("inputs",) * labelled + ("format", "runtime", "device", "vs", "output", "max_abs", "max_rel", "atol", "rtol",
                                        "x floor", "result")
    for col in columns:
        table.add_column(col, justify="right" if col in ("max_abs", "max_rel", "atol", "rtol", "x floor") else "left")
    for stage in parity:
        if stage.quantize:  # judged by SNR and cosine: bridge.report.quant prints those
            continue
        lead = (stage.inputs,) * labelled + (escape(stage.label), stage.runtime, stage.device, stage.reference)
        if stage.error:
            table.add_row(*lead, "-", "", "", "", "", "", f"[red]FAIL[/] {stage.error}")
            continue
        for out in stage.outputs:
            verdict = "[green]pass[/]" if out.passed else f"[red]FAIL[/]{' ' + out.reason if out.reason else ''}"
            if out.rule == "snr":  # a source that quantises at run time (bridge.verify.run_time_quant)
                verdict += f" (SNR {_db(out.snr_db)} dB >= {out.min_snr_db:g}, cosine {out.cosine:.4f})"
            elif out.rule not in ("fixed", "calibrated"):  # judged by another rule (e.g. detections as box sets)
                verdict += f" ({out.rule})"
            # calibrated: the error against float64 truth in noise floors (limit noise_factor); fixed: atol/rtol
            tolerant = out.rule not in ("calibrated", "snr")
            ratio = f"{out.noise_ratio:.2f} (<= {out.noise_factor:g})" if out.rule == "calibrated" else "-"
            table.add_row(*lead, out.name, _num(out.max_abs), _num(out.max_rel), f"{out.atol:g}" if tolerant else "-",
                          f"{out.rtol:g}" if tolerant else "-", ratio, verdict)
    return table


def print_parity(parity: Sequence[Any], console: Any = None) -> None:
    from rich.console import Console

    if console is None:
        console = Console() if Console().is_terminal else Console(width=140)
    if any(not getattr(stage, "quantize", "") for stage in parity):  # quantized stages have their own table
        console.print(parity_table(parity))


def _spread(entry: dict[str, Any]) -> str:
    """How much the per-round ratios moved: a shared machine's noise, in the same units as the ratio."""
    rounds = entry.get("p50_vs_onnxruntime_rounds") or []
    return f"{min(rounds):.2f}-{max(rounds):.2f}x ({len(rounds)})" if rounds else "-"


def print_bench(bench: Sequence[dict[str, Any]], overhead_ms: float | None = None, console: Any = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    if console is None:
        console = Console() if Console().is_terminal else Console(width=140)
    table = Table(title="latency", title_justify="left")
    for col in ("format", "runtime", "device", "batch", "threads", "runs", "p50 ms", "p90 ms", "p99 ms", "mean ms", "per s",
                "p50 / ORT", "rounds: min-max / ORT", "p50 / float"):
        table.add_column(col, justify="left" if col in ("format", "runtime", "device") else "right")
    for b in bench:
        if b.get("error"):
            table.add_row(escape(b.get("label", b["format"])), b["runtime"], b["device"], str(b["batch"]), str(b.get("threads") or "-"), "-",
                          f"[red]{b['error']}[/]", "", "", "", "", "", "", "")
            continue
        table.add_row(escape(b.get("label", b["format"])), b["runtime"], b["device"], str(b["batch"]), str(b.get("threads") or "-"),
                      str(b["runs"]), f"{b['p50_ms']:.3f}", f"{b['p90_ms']:.3f}", f"{b['p99_ms']:.3f}",
                      f"{b['mean_ms']:.3f}", f"{b['throughput_per_s']:.1f}",
                      f"{b['p50_vs_onnxruntime']:.2f}x" if "p50_vs_onnxruntime" in b else "-", _spread(b),
                      f"{b['p50_vs_float_tflite']:.2f}x" if "p50_vs_float_tflite" in b else "-")
    console.print(table)
    if overhead_ms is not None:
        console.print(f"harness overhead per call (not in the timings): {overhead_ms:.3f} ms")


def _console(console: Any) -> Any:
    from rich.console import Console

    return console if console is not None else (Console() if Console().is_terminal else Console(width=140))


def print_gradients(gradients: Sequence[Any], notes: Sequence[str] = (), console: Any = None) -> None:
    """One row per input and parameter gradient: TF against PyTorch, and the calibrated verdict."""
    from rich.table import Table

    console = _console(console)
    table = Table(title="gradients", title_justify="left")
    for col in ("mode", "kind", "tensor", "max_abs", "norm", "max_abs/norm", "x floor", "result"):
        table.add_column(col, justify="right" if col in ("max_abs", "norm", "max_abs/norm", "x floor") else "left")
    for g in gradients:
        verdict = "[green]pass[/]" if g.passed else f"[red]FAIL[/]{' ' + g.problem if g.problem else ''}"
        table.add_row(g.mode, g.kind, g.name, _num(g.max_abs), _num(g.norm), _num(g.rel), f"{g.noise_ratio:.2f}", verdict)
    console.print(table)
    for note in notes:
        console.print(f"gradients: {note}")


def print_train_steps(runs: Sequence[Any], console: Any = None) -> None:
    from rich.table import Table

    console = _console(console)
    table = Table(title="training steps", title_justify="left")
    for col in ("optimizer", "lr", "steps", "mode", "first loss", "last loss (torch)", "last loss (tf)",
                "max rel diff", "x floor", "worst drift x floor", "result"):
        table.add_column(col, justify="left" if col in ("optimizer", "mode", "result") else "right")
    for run in runs:
        worst = max((d["noise_ratio"] for d in run.drift), default=0.0)
        verdict = "[green]pass[/]" if run.passed else f"[red]FAIL[/]{' ' + run.problem if run.problem else ''}"
        last_tf = f"{run.tf_loss[-1]:.6g}" if run.tf_loss else "-"
        table.add_row(run.optimizer, f"{run.learning_rate:g}", str(run.steps), run.mode,
                      f"{run.torch_loss[0]:.6g}" if run.torch_loss else "-",
                      f"{run.torch_loss[-1]:.6g}" if run.torch_loss else "-", last_tf, _num(run.max_rel_loss_diff),
                      f"{run.loss_ratio:.2f}", f"{worst:.2f}", verdict)
    console.print(table)
