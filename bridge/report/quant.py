"""Quantized artifacts in the reports: the terminal tables and the HTML section.

Quantized artifacts are judged by SNR and cosine (``bridge.verify.quant``), so they get their own table
(artifact, size against the float TFLite, per-output SNR, cosine, top-k agreement, thresholds), what
``--keep-float`` bought back, and, with ``--localize``, the per-layer SNR against depth and the worst layers.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from bridge.report.svg import bar_chart

__all__ = ["print_quantization", "quant_tables", "html_section", "layers_svg", "describe_bought_back"]


def _db(value: Any) -> str:
    if not isinstance(value, numbers.Real):
        return "-" if value is None else str(value)  # a report read back holds "inf" as a string
    return "exact" if math.isinf(value) and value > 0 else f"{value:.1f}"


def _share(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, numbers.Real) else "-"


def _cos(value: Any) -> str:
    return f"{value:.6f}" if isinstance(value, numbers.Real) else "-"


def _signed(value: float, fmt: str) -> str:
    return ("+" if value >= 0 else "") + format(value, fmt)


def describe_bought_back(entry: Mapping[str, Any]) -> str:
    """One line: what leaving layers in float changed against the fully quantized artifact."""
    bought = entry.get("bought_back") or {}
    parts = []
    if "snr_db" in bought:
        parts.append(f"SNR {_signed(bought['snr_db'], '.1f')} dB")
    if "cosine" in bought:
        parts.append(f"cosine {_signed(bought['cosine'], '.4f')}")
    for key, name in (("top1_agreement", "top-1"), ("top5_agreement", "top-5")):
        if key in bought:
            parts.append(f"{name} {_signed(bought[key] * 100, '.1f')} points")
    parts.append(f"size {_signed(bought.get('size_bytes', 0), ',d')} bytes")
    kept = (entry.get("keep_float") or {}).get("nodes") or []
    return (f"{entry.get('label')} vs {bought.get('against')}: {', '.join(parts)}"
            + (f" (float: {', '.join(kept)})" if kept else ""))


def quant_tables(quantization: Sequence[Mapping[str, Any]], parity: Sequence[Any]) -> list[Any]:
    """rich tables: one row per quantized artifact, and one per output of each quantized stage."""
    from rich.markup import escape as esc
    from rich.table import Table

    summary = Table(title="quantized artifacts", title_justify="left")
    for col in ("artifact", "mode", "bytes", "x float", "SNR dB", "cosine", "top-1", "top-5", "samples", "calibration",
                "result"):
        summary.add_column(col, justify="right" if col in ("bytes", "x float", "SNR dB", "cosine", "top-1", "top-5",
                                                            "samples") else "left")
    for q in quantization:
        verdict = "[dim]baseline[/]" if q.get("advisory") else "[green]pass[/]" if q.get("passed") else "[red]FAIL[/]"
        ratio = q.get("size_vs_float")
        summary.add_row(esc(q["label"]), q["quantize"], f"{q['size_bytes']:,}", f"{ratio:.3f}" if ratio else "-",
                        _db(q.get("snr_db")), _cos(q.get("cosine")), _share(q.get("top1_agreement")),
                        _share(q.get("top5_agreement")), str(q.get("samples", "-")), esc(str(q.get("calibration") or q.get("scales") or "")),
                        verdict)
    outputs = Table(title="quantized parity (SNR and cosine over the samples)", title_justify="left")
    for col in ("artifact", "vs", "output", "SNR dB", "min", "cosine", "min", "max_abs", "mean_abs", "top-1", "top-5",
                "result"):
        outputs.add_column(col, justify="left" if col in ("artifact", "vs", "output", "result") else "right")
    for stage in parity:
        if not stage.quantize:
            continue
        if stage.error:
            outputs.add_row(esc(stage.label), esc(stage.reference), "-", "", "", "", "", "", "", "", "",
                            f"[red]FAIL[/] {esc(stage.error)}")
            continue
        for out in stage.outputs:
            verdict = ("[dim]baseline[/] " if stage.advisory else "") + (
                "[green]pass[/]" if out.passed else f"[red]FAIL[/]{' ' + out.reason if out.reason else ''}")
            outputs.add_row(esc(stage.label), esc(stage.reference), esc(out.name), _db(getattr(out, "snr_db", None)),
                            _db(getattr(out, "min_snr_db", None)), _cos(out.cosine), _cos(getattr(out, "min_cosine", None)),
                            f"{out.max_abs:.2e}", f"{out.mean_abs:.2e}", _share(getattr(out, "top1_agreement", None)),
                            _share(getattr(out, "top5_agreement", None)), verdict)
    return [summary, outputs]


def print_quantization(quantization: Sequence[Mapping[str, Any]], parity: Sequence[Any], console: Any = None) -> None:
    from rich.console import Console

    if console is None:
        console = Console() if Console().is_terminal else Console(width=160)
    for table in quant_tables(quantization, parity):
        console.print(table)
    for entry in quantization:
        if entry.get("bought_back"):
            console.print(f"keep-float: {describe_bought_back(entry)}", markup=False, highlight=False)


# -- HTML ---------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _table(headers: Sequence[str], rows: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(f'<tr class="{cls}">' + "".join(f'<td class="{c}">{v}</td>' for c, v in cells) + "</tr>"
                   for cls, cells in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def layers_svg(localization: Mapping[str, Any], worst: int = 3) -> str:
    """SNR (dB, cumulative) of every layer against its depth in the model; the worst layers in red."""
    layers = [l for l in localization.get("layers") or [] if isinstance(l, Mapping)]
    if not layers:
        return ""
    bad = {l.get("depth") for l in (localization.get("worst") or [])[:worst]}
    values = [max(0.0, min(float(l["snr_db"]), 80.0)) if isinstance(l.get("snr_db"), numbers.Real) else 0.0
              for l in layers]
    labels = [str(l.get("node") or l.get("op") or "?") for l in layers]
    colors = ["#e45756" if l.get("depth") in bad else "#4c78a8" for l in layers]
    return bar_chart(labels, {"SNR dB": values}, title=f"{localization.get('candidate', '?')}: SNR against depth "
                     f"(vs {localization.get('reference', '?')}, {localization.get('samples', '?')} samples)",
                     y_label="SNR dB (cumulative, capped at 80)", category_colors=colors,
                     value_format=lambda v: f"{v:.0f}", width=max(520, min(1100, 34 * len(layers) + 120)), height=280)


def html_section(report: Mapping[str, Any]) -> str:
    """The "Quantization" section: summary, keep-float, per-layer plots and worst layers ("" when none)."""
    quantization = [q for q in report.get("quantization") or [] if isinstance(q, Mapping)]
    locs = [l for l in report.get("localization") or [] if isinstance(l, Mapping) and l.get("kind") == "quantized-layers"]
    if not quantization and not locs:
        return ""
    parts = ['<h2 id="quantization">Quantization</h2>']
    if quantization:
        rows = []
        for q in quantization:
            passed = q.get("passed")
            verdict = "baseline" if q.get("advisory") else ("pass" if passed else "FAIL")
            cls = "" if q.get("advisory") else ("pass" if passed else "fail")
            ratio = q.get("size_vs_float")
            cells = [("", _e(q.get("label", "?"))), ("", _e(q.get("quantize", ""))),
                     ("num", _e(f"{q.get('size_bytes', 0):,}")), ("num", _e(f"{ratio:.3f}" if ratio else "-")),
                     ("num", _e(_db(q.get("snr_db")))), ("num", _e(_db(q.get("min_snr_db")))),
                     ("num", _e(_cos(q.get("cosine")))), ("num", _e(_cos(q.get("min_cosine")))),
                     ("num", _e(_share(q.get("top1_agreement")))), ("num", _e(_share(q.get("top5_agreement")))),
                     ("num", _e(q.get("samples", "-"))), ("", _e(q.get("calibration") or q.get("scales") or "")),
                     ("verdict", verdict)]
            rows.append((cls, cells))
        parts.append('<div class="card">' + _table(
            ["artifact", "mode", "bytes", "× float", "SNR dB", "min SNR", "cosine", "min cosine", "top-1", "top-5",
             "samples", "scales from", "result"], rows))
        parts.append('<p class="note">worst output, against the source; SNR = 10·log10(Σr² / Σ(r − q)²); top-k: '
                     "the reference's top class among the candidate's k best</p>")
        for q in quantization:
            if q.get("bought_back"):
                parts.append(f'<p class="card">keep-float: {_e(describe_bought_back(q))}</p>')
            if q.get("float_ops"):
                parts.append(f'<p class="note">{_e(q["label"])}: ops left in float: {_e(", ".join(q["float_ops"]))}</p>')
        parts.append("</div>")
    for loc in locs:
        worst = [l for l in loc.get("worst") or [] if isinstance(l, Mapping)][:10]
        rows = [("fail" if i == 0 else "", [("num", _e(i + 1)), ("", _e(l.get("node", ""))), ("", _e(l.get("op_type", ""))),
                                            ("", _e(l.get("module", ""))), ("", _e(l.get("op", ""))),
                                            ("num", _e(_db(l.get("snr_in_db")))), ("num", _e(_db(l.get("snr_db")))),
                                            ("num", _e(_db(l.get("snr_lost_db")))), ("num", _e(l.get("depth", "")))])
                for i, l in enumerate(worst)]
        parts.append(f'<section class="card"><h3>per-layer error: {_e(loc.get("candidate", "?"))} vs '
                     f'{_e(loc.get("reference", "?"))}</h3>')
        parts.append(f'<div class="plots"><div class="plot">{layers_svg(loc)}</div></div>')
        parts.append(_table(["rank", "ONNX node", "op", "PyTorch module", "TFLite op", "SNR in", "SNR out", "SNR lost",
                             "depth"], rows))
        parts.append("</section>")
    return "".join(parts)
