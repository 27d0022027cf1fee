"""One self-contained HTML page from the JSON report: tables, error histograms and latency charts.

Self-contained means no scripts, fonts, stylesheets or images from anywhere: CSS is inline and plots are
inline SVG (``bridge.report.svg``), so the file opens the same from a CI artifact, an e-mail or offline.
Every string from the report is escaped: model paths, output names and error messages are user data.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from bridge.report._write import write_text_atomic
from bridge.report.junit import fmt_num, stage_name
from bridge.report.quant import html_section as _quantization_section
from bridge.report.svg import bar_chart, line_chart
from bridge.verify.compare import failure_reason

__all__ = ["render_html", "write_html", "histogram_svg", "latency_svgs"]

Report = Mapping[str, Any]

_GREEN, _ORANGE, _RED = "#54a24b", "#f2a23c", "#e45756"

_CSS = """
:root{--ok:#1a7f37;--ok-bg:#dafbe1;--bad:#cf222e;--bad-bg:#ffebe9;--line:#d0d7de;--muted:#57606a}
*{box-sizing:border-box}
body{margin:0;background:#f6f8fa;color:#1f2328;
 font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px}
header.report{display:flex;align-items:center;gap:16px;flex-wrap:wrap;margin-bottom:8px}
h1{font-size:22px;margin:0;word-break:break-all}
h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:0;display:flex;gap:10px;align-items:center}
.meta{color:var(--muted);margin:0 0 12px}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-weight:700;font-size:12px;letter-spacing:.04em}
.badge.pass{background:var(--ok-bg);color:var(--ok);border:1px solid #4ac26b}
.badge.fail{background:var(--bad-bg);color:var(--bad);border:1px solid #ff8182}
.badge.big{font-size:15px;padding:4px 14px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin:12px 0;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid #eaeef2;text-align:left;white-space:nowrap}
th{background:#f6f8fa;font-weight:600}
td.num{text-align:right;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
td.path{white-space:normal;word-break:break-all}
tr.fail td{background:var(--bad-bg)}
tr.pass td.verdict{color:var(--ok);font-weight:600}
tr.fail td.verdict{color:var(--bad);font-weight:600}
pre.error{background:var(--bad-bg);color:#82071e;padding:10px;border-radius:6px;white-space:pre-wrap;margin:8px 0 0}
.plots{display:flex;flex-wrap:wrap;gap:12px;margin-top:12px}
.plot{background:#fff;border:1px solid #eaeef2;border-radius:6px;padding:6px}
svg.chart{max-width:100%;height:auto;display:block}
.note{color:var(--muted);font-size:12px}
nav.toc a{margin-right:12px}
.first-failure{border-left:4px solid var(--bad)}
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _badge(passed: bool, big: bool = False) -> str:
    cls = "pass" if passed else "fail"
    return f'<span class="badge {cls}{" big" if big else ""}">{"PASS" if passed else "FAIL"}</span>'


def _table(headers: Sequence[str], rows: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> str:
    """rows: (row class, [(cell class, already-escaped html), ...])."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        f'<tr class="{cls}">' + "".join(f'<td class="{c}">{v}</td>' for c, v in cells) + "</tr>"
        for cls, cells in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _shape(shape: Any) -> str:
    if isinstance(shape, list):
        return "×".join(str(d) for d in shape) or "scalar"
    return str(shape if shape is not None else "")


def _decade(edge: Any) -> str:
    if isinstance(edge, numbers.Real) and edge > 0 and math.isfinite(edge):
        exp = math.log10(edge)
        if abs(exp - round(exp)) < 1e-9:
            return f"1e{round(exp)}"
    return fmt_num(edge)


def _log_position(edges: Sequence[float], value: float) -> float | None:
    """Where ``value`` falls on the binned axis, in bins from the left edge (log scale within a bin)."""
    if not (value > 0 and math.isfinite(value)) or len(edges) < 2:
        return None
    logs = [math.log10(e) for e in edges]
    lv = math.log10(value)
    if lv <= logs[0]:
        return 0.0
    for i in range(len(logs) - 1):
        if lv <= logs[i + 1]:
            return i + (lv - logs[i]) / (logs[i + 1] - logs[i])
    return float(len(logs) - 1)


def histogram_svg(output: Mapping[str, Any], title: str = "", against: str = "") -> str:
    """The error histogram of one output: counts per decade of |candidate - reference|, atol marked.

    Under the calibrated rule the lines are the noise floor (the source's own float32 error) and the limit
    (``noise_factor`` floors plus a few ULPs); bins are coloured by the limit. ``against`` names what the
    errors were measured against, for the axis label.
    """
    hist = output.get("histogram") or {}
    edges = [float(e) for e in hist.get("edges", []) if isinstance(e, numbers.Real)]
    counts = list(hist.get("counts", []))
    if len(edges) != len(counts) + 1 or not counts:
        return ""
    calibrated = output.get("rule") == "calibrated" and isinstance(output.get("noise_limit"), numbers.Real)
    limit = output.get("noise_limit") if calibrated else output.get("atol")
    colors = []
    for lo, hi in zip(edges, edges[1:]):
        if not isinstance(limit, numbers.Real):
            colors.append("#4c78a8")
        else:
            # Green: every error in the bin is within the limit; red: every one is beyond it; orange: straddles.
            colors.append(_GREEN if hi <= limit else _RED if lo >= limit else _ORANGE)
    lines: list[tuple[float, str]] = []
    if calibrated:
        floor = output.get("noise_floor")
        for value, label in ((floor, f"floor {fmt_num(floor)}"),
                             (limit, f"limit {fmt_num(output.get('noise_factor'))}× floor")):
            pos = _log_position(edges, float(value)) if isinstance(value, numbers.Real) else None
            if pos is not None:
                lines.append((pos, label))
    elif isinstance(limit, numbers.Real):
        pos = _log_position(edges, float(limit))
        if pos is not None:
            lines.append((pos, f"atol {fmt_num(limit)}"))
    return bar_chart(
        [f"{_decade(lo)}–{_decade(hi)}" for lo, hi in zip(edges, edges[1:])],
        {"count": counts},
        title=title or f"{output.get('name', '?')}: |error| histogram",
        x_label=f"|candidate − {against or 'reference'}|, per decade (first bin includes exact matches)",
        y_label="elements",
        edge_labels=[_decade(e) for e in edges],
        marker=lines[0] if lines else None,
        markers=lines[1:],
        category_colors=colors,
        value_format=lambda v: str(int(v)) if v == int(v) else fmt_num(v),
        width=560,
        height=250,
    )


def _bench_key(entry: Mapping[str, Any]) -> str:
    return f"{entry.get('label', entry.get('format', '?'))}/{entry.get('runtime', '?')}/{entry.get('device', '?')}"


def latency_svgs(bench: Sequence[Mapping[str, Any]]) -> list[str]:
    """One p50/p90/p99 chart per runtime (format/runtime/device, one bar group per batch size), plus an
    overview of all runtimes side by side when there is more than one."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for entry in bench:
        groups.setdefault(_bench_key(entry), []).append(entry)
    charts = []

    def chart(title: str, labels: list[str], entries: list[Mapping[str, Any]]) -> str:
        series = {p: [e.get(f"{p}_ms") for e in entries] for p in ("p50", "p90", "p99")}
        return bar_chart(labels, series, title=title, y_label="milliseconds",
                         width=max(420, min(1100, 150 * len(labels) + 120)), height=260)

    if len(groups) > 1:
        charts.append(chart("latency, all runtimes", [f"{_bench_key(e)} b{e.get('batch', '?')}" for e in bench],
                            list(bench)))
    for key, entries in groups.items():
        entries = sorted(entries, key=lambda e: e.get("batch") if isinstance(e.get("batch"), int) else 0)
        charts.append(chart(f"latency: {key}", [f"batch {e.get('batch', '?')}" for e in entries], entries))
    return charts


def _inputs_section(report: Report) -> str:
    rows = [("", [("", _e(i.get("name", ""))), ("num", _e(_shape(i.get("shape")))), ("", _e(i.get("dtype", "")))])
            for i in report.get("inputs") or []]
    return "<h2>Inputs</h2>" + (f'<div class="card">{_table(["name", "shape", "dtype"], rows)}</div>'
                                if rows else '<p class="note">none recorded</p>')


def _graph_cells(graph: Any) -> list[tuple[str, str]]:
    """Graph figures of one artifact: ops, transposes, casts, Flex ops (named), XNNPACK share (TFLite)."""
    if not isinstance(graph, Mapping) or "ops" not in graph:
        return [("num", "-")] * 5
    flex = graph.get("flex_ops")
    flex_text = "-" if flex is None else str(flex)
    if isinstance(graph.get("flex"), Mapping) and graph["flex"]:
        flex_text += " (" + ", ".join(f"{k} ×{v}" for k, v in graph["flex"].items()) + ")"
    share = graph.get("xnnpack_share")
    share_text = f"{share:.0%}" if isinstance(share, numbers.Real) and math.isfinite(share) else "-"
    return [("num", _e(graph.get(k, "-"))) for k in ("ops", "transposes", "casts")] + [
        ("path" if flex else "num", _e(flex_text)), ("num", _e(share_text))]


def _artifacts_section(report: Report) -> str:
    rows = [("", [("", _e(a.get("label", a.get("format", "")))), ("path", _e(a.get("path", ""))),
                  ("", _e(a.get("converter", ""))), ("num", _e(fmt_num(a.get("convert_seconds")))),
                  ("num", _e(f"{a['size_bytes']:,}" if isinstance(a.get("size_bytes"), int) else "-"))]
             + _graph_cells(a.get("graph")))
            for a in report.get("artifacts") or []]
    cols = ["format", "path", "converter", "seconds", "bytes", "ops", "transposes", "casts", "Flex ops", "XNNPACK share"]
    return "<h2>Artifacts</h2>" + (
        f'<div class="card">{_table(cols, rows)}</div>' if rows else '<p class="note">none</p>')


_PARITY_COLS = ("output", "result", "rule", "max_abs", "max_rel", "mean_abs", "cosine", "mismatch", "worst index",
                "atol", "rtol", "error vs float64", "noise floor", "× floor", "shape", "dtype", "problem")


def _output_row(out: Mapping[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    passed = bool(out.get("passed"))
    ratio = out.get("mismatch_ratio")
    mismatch = f"{ratio:.2%}" if isinstance(ratio, numbers.Real) and math.isfinite(ratio) else fmt_num(ratio)
    worst = out.get("worst_index")
    calibrated = out.get("rule") == "calibrated"
    cells = [("", _e(out.get("name", "?"))), ("verdict", "pass" if passed else "FAIL"), ("", _e(out.get("rule", "fixed")))]
    cells += [("num", _e(fmt_num(out.get(k)))) for k in ("max_abs", "max_rel", "mean_abs", "cosine")]
    cells += [("num", _e(mismatch)), ("num", _e(worst if worst is not None else "-"))]
    # calibrated outputs are judged against float64 truth, quantized ones by SNR and cosine (the Quantization
    # section): neither by atol/rtol
    fixed = not calibrated and out.get("rule") != "snr"
    cells += [("num", _e(fmt_num(out.get(k)) if fixed else "-")) for k in ("atol", "rtol")]
    cells += [("num", _e(fmt_num(out.get(k)) if calibrated else "-")) for k in ("error", "noise_floor", "noise_ratio")]
    why = failure_reason(out.get("problem", ""), out.get("nonfinite_mismatches", 0))
    cells += [("num", _e(_shape(out.get("shape")))), ("", _e(out.get("dtype", ""))), ("", _e(why))]
    return ("pass" if passed else "fail"), cells


def _parity_section(report: Report) -> str:
    stages = report.get("parity") or []
    if not stages:
        return '<h2>Parity</h2><p class="note">no parity checks in this report</p>'
    parts = ["<h2>Parity</h2>"]
    for stage in stages:
        parts.append('<section class="card">')
        parts.append(f"<h3>{_badge(bool(stage.get('passed')))} {_e(stage_name(stage))}</h3>")
        if stage.get("error"):
            parts.append(f'<pre class="error">{_e(stage["error"])}</pre>')
        if stage.get("calibration"):
            parts.append(f'<p class="note">{_e(stage["calibration"])}</p>')
        outputs = stage.get("outputs") or []
        if outputs:
            parts.append(_table(_PARITY_COLS, [_output_row(o) for o in outputs]))
            source_stage = stage.get("reference") == (report.get("source") or {}).get("format")
            plots = [histogram_svg(o, against="float64 truth" if o.get("rule") == "calibrated" and source_stage
                                   else str(stage.get("reference", "reference"))) for o in outputs]
            missing = [o.get("name", "?") for o, p in zip(outputs, plots) if not p]
            parts.append('<div class="plots">' + "".join(f'<div class="plot">{p}</div>' for p in plots if p) + "</div>")
            if missing:
                parts.append(f'<p class="note">no error histogram (non-float or not comparable): '
                             f'{_e(", ".join(map(str, missing)))}</p>')
        parts.append("</section>")
    return "".join(parts)


def _bench_section(report: Report) -> str:
    bench = [b for b in report.get("bench") or [] if isinstance(b, Mapping)]
    if not bench:
        return ""
    cols = ("format", "runtime", "device", "batch", "threads", "p50 ms", "p90 ms", "p99 ms", "mean ms",
            "throughput /s", "runs", "rounds", "p50 / ORT", "per-round / ORT")
    keys = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "throughput_per_s", "runs", "rounds", "p50_vs_onnxruntime")
    rows = []
    for b in bench:
        verdict = b.get("passed")
        cls = "fail" if verdict is False else ""
        cells = [("", _e(b.get("label", b.get("format", ""))))] + [("", _e(b.get(k, ""))) for k in ("runtime", "device")]
        cells += [("num", _e(b.get(k, "-"))) for k in ("batch", "threads")]
        cells += [("num", _e(fmt_num(b.get(k)))) for k in keys]
        spread = b.get("p50_vs_onnxruntime_rounds")
        cells.append(("num", _e(" ".join(fmt_num(r) for r in spread) if isinstance(spread, list) else "-")))
        rows.append((cls, cells))
    parts = ["<h2>Latency</h2>", f'<div class="card">{_table(cols, rows)}']
    parts += [f'<pre class="error">warning: {_e(w)}</pre>' for w in report.get("bench_warnings") or []]
    overhead = report.get("harness_overhead_ms")
    if overhead is not None:
        parts.append(f'<p class="note">harness overhead per call: {_e(fmt_num(overhead))} ms '
                     "(input checks and name mapping; not included in the timings above)</p>")
    parts.append('<div class="plots">' + "".join(f'<div class="plot">{s}</div>' for s in latency_svgs(bench))
                 + "</div></div>")
    return "".join(parts)


def _gradients_section(report: Report) -> str:
    grads = [g for g in report.get("gradients") or [] if isinstance(g, Mapping)]
    notes = [str(n) for n in report.get("gradient_notes") or []]
    if not grads and not notes:
        return ""
    cols = ("mode", "kind", "tensor", "result", "max_abs", "norm", "max_abs/norm", "error vs float64", "noise floor",
            "× floor", "problem")
    rows = []
    for g in grads:
        passed = bool(g.get("passed"))
        cells = [("", _e(g.get(k, ""))) for k in ("mode", "kind", "name")]
        cells.append(("verdict", "pass" if passed else "FAIL"))
        cells += [("num", _e(fmt_num(g.get(k)))) for k in ("max_abs", "norm", "rel", "error", "noise_floor", "noise_ratio")]
        cells.append(("", _e(g.get("problem", ""))))
        rows.append(("pass" if passed else "fail", cells))
    parts = ["<h2>Gradients</h2>", f'<div class="card">{_table(cols, rows)}']
    parts += [f'<p class="note">{_e(n)}</p>' for n in notes]
    return "".join(parts) + "</div>"


def _train_steps_section(report: Report) -> str:
    runs = [r for r in report.get("train_steps") or [] if isinstance(r, Mapping)]
    if not runs:
        return ""
    parts = ["<h2>Training steps</h2>"]
    for run in runs:
        name = f"{run.get('optimizer', '?')} lr {fmt_num(run.get('learning_rate'))}, {run.get('steps', '?')} steps ({run.get('mode', '?')} mode)"
        parts.append(f'<section class="card"><h3>{_badge(bool(run.get("passed")))} {_e(name)}</h3>')
        if run.get("problem"):
            parts.append(f'<pre class="error">{_e(run["problem"])}</pre>')
        parts.append(f'<p class="note">loss: largest relative difference TF vs PyTorch {_e(fmt_num(run.get("max_rel_loss_diff")))}; '
                     f'error vs float64 {_e(fmt_num(run.get("loss_ratio")))}× the noise floor</p>')
        chart = line_chart({"torch": run.get("torch_loss") or [], "tensorflow": run.get("tf_loss") or []},
                           title=f"loss per step: {name}", x_label="step", y_label="loss", dashed=("tensorflow",))
        parts.append(f'<div class="plots"><div class="plot">{chart}</div></div>')
        drift = [d for d in run.get("drift") or [] if isinstance(d, Mapping)]
        if drift:
            rows = [("pass" if d.get("passed") else "fail",
                     [("", _e(d.get("name", "?"))), ("verdict", "pass" if d.get("passed") else "FAIL")]
                     + [("num", _e(fmt_num(d.get(k)))) for k in ("max_abs", "update", "error", "noise_floor", "noise_ratio")])
                    for d in drift]
            parts.append(_table(("parameter", "result", "max_abs tf vs torch", "largest update", "error vs float64",
                                 "noise floor", "× floor"), rows))
        parts.append("</section>")
    return "".join(parts)


def _first_failure(report: Report) -> str:
    """Where a chain of conversions first stops matching: the hop to look at first."""
    first = report.get("first_failure")
    if not isinstance(first, Mapping):
        return ""
    text = (f"parity first breaks at <b>{_e(first.get('format', '?'))}</b> ({_e(first.get('runtime', '?'))}) "
            f"against {_e(first.get('reference', '?'))}")
    if first.get("inputs"):
        text += f" with inputs {_e(first['inputs'])}"
    return f'<p class="card first-failure">{text}</p>'


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _report_section(report: Report, anchor: str = "") -> str:
    source = report.get("source") or {}
    passed = bool(report.get("passed"))
    stages = report.get("parity") or []
    n_out = sum(len(s.get("outputs") or []) for s in stages)
    n_bad = sum(1 for s in stages for o in s.get("outputs") or [] if not o.get("passed"))
    n_err = sum(1 for s in stages if s.get("error"))
    summary = (f"{_count(len(report.get('artifacts') or []), 'artifact')} · {_count(len(stages), 'parity stage')}"
               f" · {_count(n_out, 'output')}, {n_bad} failing"
               + (f" · {_count(n_err, 'stage')} could not run" if n_err else ""))
    return "".join([
        f'<article id="{_e(anchor)}">' if anchor else "<article>",
        f'<header class="report">{_badge(passed, big=True)}<h1>{_e(source.get("path", "(unknown source)"))}</h1></header>',
        f'<p class="meta">source format <b>{_e(source.get("format", "?"))}</b> · bridge '
        f'{_e(report.get("bridge_version", "?"))} · {_e(summary)}</p>',
        _first_failure(report), _inputs_section(report), _artifacts_section(report), _parity_section(report),
        _gradients_section(report), _train_steps_section(report), _quantization_section(report), _bench_section(report),
        "</article>",
    ])


def render_html(report: Report | Sequence[Report]) -> str:
    """The whole page as text, for one report dict or a list of them (one section per model)."""
    reports = [report] if isinstance(report, Mapping) else list(report)
    if len(reports) == 1:
        title = f"bridge report: {(reports[0].get('source') or {}).get('path', '')}"
        body = _report_section(reports[0])
    else:
        ok = sum(1 for r in reports if r.get("passed"))
        title = f"bridge report: {len(reports)} models"
        links = "".join(f'<a href="#model-{i}">{_badge(bool(r.get("passed")))} '
                        f'{_e((r.get("source") or {}).get("path", "?"))}</a>' for i, r in enumerate(reports))
        body = (f'<header class="report">{_badge(ok == len(reports), big=True)}<h1>{len(reports)} models, '
                f'{ok} passed</h1></header><nav class="toc card">{links}</nav>'
                + "<hr>".join(_report_section(r, f"model-{i}") for i, r in enumerate(reports)))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body><main>{body}</main></body></html>\n")


def write_html(report: Report | Sequence[Report], path: str | Path) -> Path:
    """Write :func:`render_html` to ``path`` atomically; returns the path."""
    return write_text_atomic(render_html(report), path)
