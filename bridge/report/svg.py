"""A small grouped bar chart as inline SVG text, for the HTML report (no plotting library needed).

Both of the report's plots are bar charts over categories: the error histogram (one bar per decade, labelled at
the decade edges, with the atol marked as a vertical line) and the latency chart (p50/p90/p99 bars per
runtime). Every string placed in the SVG is escaped here, so callers pass raw report text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape

__all__ = ["bar_chart", "line_chart", "nice_ticks", "PALETTE"]

PALETTE = ("#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#b279a2")
_FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"


def nice_ticks(vmax: float, count: int = 5) -> list[float]:
    """Round tick values 0, step, 2*step, ... covering ``vmax`` with steps of 1, 2 or 5 times a power of ten."""
    if not (vmax > 0 and math.isfinite(vmax)):
        return [0.0, 1.0]
    raw = vmax / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    n = math.ceil(vmax / step - 1e-9)
    return [i * step for i in range(n + 1)]


def _short(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e4 or abs(value) < 1e-2:
        return f"{value:.1e}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")
    return f"{value:.3g}"


def _num(x: float) -> str:
    return f"{x:.1f}"


def bar_chart(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    edge_labels: Sequence[str] | None = None,
    marker: tuple[float, str] | None = None,
    markers: Sequence[tuple[float, str]] = (),
    category_colors: Sequence[str] | None = None,
    value_format: Callable[[float], str] = _short,
    width: int = 640,
    height: int = 260,
) -> str:
    """Grouped bars: one slot per category, one bar per series inside each slot.

    ``edge_labels`` (len(categories) + 1 labels) label the slot boundaries instead of their centres, for
    binned axes. ``marker`` = (x, label) draws a dashed vertical line at x measured in slots from the left
    edge (2.5 is the middle of the third slot). ``category_colors`` colours each slot's bars (single-series
    charts, e.g. bins past the tolerance in red). Values that are not finite numbers draw as zero-height bars.
    """
    names = list(series)
    n_cat, n_ser = len(categories), max(len(names), 1)
    left, right, top = 58, 14, 30 if title else 12
    bottom = 44 + (16 if x_label else 0) + (18 if n_ser > 1 else 0)
    # Long category names in narrow slots would overlap: slant them and make room below.
    longest = max((len(str(c)) for c in categories), default=0) * 6.2
    slant = edge_labels is None and longest > (width - left - right) / max(n_cat, 1) * 0.95
    if slant:
        bottom += int(min(longest * 0.6, 120))
        height += int(min(longest * 0.6, 120))
        left = max(left, int(min(longest * 0.82, 160)))  # the first label hangs left of its bar
    plot_w, plot_h = width - left - right, height - top - bottom

    def clean(v: object) -> float:
        # Missing, negative, NaN/inf (or the report's "nan" strings) draw as empty slots rather than failing.
        try:
            f = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return 0.0
        return f if math.isfinite(f) and f > 0 else 0.0

    values = {name: [clean(v) for v in series[name]] for name in names}
    vmax = max((v for vals in values.values() for v in vals), default=0.0)
    ticks = nice_ticks(vmax)
    ymax = ticks[-1] or 1.0
    slot = plot_w / max(n_cat, 1)

    def y(v: float) -> float:
        return top + plot_h - (v / ymax) * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="{escape(title or "chart")}" class="chart" '
           f'style="{_FONT};font-size:11px">']
    if title:
        out.append(f"<title>{escape(title)}</title>")
        out.append(f'<text x="{left}" y="18" font-size="13" font-weight="600" fill="#222">{escape(title)}</text>')
    # Grid lines and y tick labels first, so bars paint over them.
    for t in ticks:
        ty = _num(y(t))
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{ty}" y2="{ty}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 6}" y="{ty}" text-anchor="end" dominant-baseline="middle" '
                   f'fill="#555">{escape(value_format(t))}</text>')
    if y_label:
        cy = top + plot_h / 2
        out.append(f'<text transform="translate(14 {_num(cy)}) rotate(-90)" text-anchor="middle" '
                   f'fill="#555">{escape(y_label)}</text>')
    group_w = slot * 0.8
    bar_w = group_w / n_ser
    for i, cat in enumerate(categories):
        x0 = left + i * slot + (slot - group_w) / 2
        for j, name in enumerate(names):
            v = values[name][i] if i < len(values[name]) else 0.0
            color = (category_colors[i] if category_colors and n_ser == 1 and i < len(category_colors)
                     else PALETTE[j % len(PALETTE)])
            bx, by = x0 + j * bar_w, y(v)
            tip = f"{cat} {name}: {value_format(v)}" if n_ser > 1 else f"{cat}: {value_format(v)}"
            out.append(f'<rect x="{_num(bx)}" y="{_num(by)}" width="{_num(max(bar_w - 1, 1))}" '
                       f'height="{_num(top + plot_h - by)}" fill="{escape(color)}"><title>{escape(tip)}</title></rect>')
            if v > 0 and bar_w >= len(value_format(v)) * 5.2:  # crowded bars: the tooltip and table have it
                out.append(f'<text x="{_num(bx + bar_w / 2)}" y="{_num(by - 3)}" text-anchor="middle" '
                           f'font-size="9" fill="#333">{escape(value_format(v))}</text>')
        if edge_labels is None and slant:
            cx = _num(left + (i + 0.5) * slot)
            out.append(f'<text transform="translate({cx} {top + plot_h + 12}) rotate(-35)" text-anchor="end" '
                       f'fill="#333">{escape(cat)}</text>')
        elif edge_labels is None:
            out.append(f'<text x="{_num(left + (i + 0.5) * slot)}" y="{top + plot_h + 14}" text-anchor="middle" '
                       f'fill="#333">{escape(cat)}</text>')
    if edge_labels is not None:
        for i, label in enumerate(edge_labels):
            ex = _num(left + i * slot)
            out.append(f'<line x1="{ex}" x2="{ex}" y1="{top + plot_h}" y2="{top + plot_h + 4}" stroke="#888"/>')
            out.append(f'<text x="{ex}" y="{top + plot_h + 15}" text-anchor="middle" fill="#333">{escape(label)}</text>')
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#888"/>')
    lines = ([marker] if marker is not None else []) + list(markers)
    for k, (position, label) in enumerate(lines):
        if not math.isfinite(position):
            continue
        color = "#d62728" if k == 0 else ("#6f42c1", "#1f77b4", "#2ca02c")[(k - 1) % 3]
        mx = _num(left + min(max(position, 0.0), n_cat) * slot)
        out.append(f'<line x1="{mx}" x2="{mx}" y1="{top}" y2="{top + plot_h}" stroke="{color}" '
                   f'stroke-width="1.5" stroke-dasharray="5 3"/>')
        # Label inside the plot beside the line, on whichever side has room; later lines one row lower.
        anchor, dx = ("end", -4) if float(mx) > left + plot_w * 0.7 else ("start", 4)
        out.append(f'<text x="{_num(float(mx) + dx)}" y="{top + 8 + 12 * k}" text-anchor="{anchor}" fill="{color}" '
                   f'font-weight="600">{escape(label)}</text>')
    if x_label:
        out.append(f'<text x="{_num(left + plot_w / 2)}" y="{top + plot_h + 32}" text-anchor="middle" '
                   f'fill="#555">{escape(x_label)}</text>')
    if n_ser > 1:
        ly = height - 8
        lx = left
        for j, name in enumerate(names):
            out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>')
            out.append(f'<text x="{lx + 14}" y="{ly}" fill="#333">{escape(name)}</text>')
            lx += 24 + 7 * len(name)
    out.append("</svg>")
    return "\n".join(out)


def line_chart(series: Mapping[str, Sequence[float]], *, title: str = "", x_label: str = "", y_label: str = "",
               width: int = 560, height: int = 260, dashed: Sequence[str] = ()) -> str:
    """Lines over a shared x axis 0..n-1 (e.g. a loss per training step), one per series, with a legend.
    Series named in ``dashed`` draw dashed, so two curves that coincide both stay visible."""
    names = [n for n in series if len(series[n])]
    points = {n: [float(v) for v in series[n]] for n in names}
    finite = [v for vals in points.values() for v in vals if math.isfinite(v)]
    left, right, top, bottom = 70, 14, 30 if title else 12, 44 + (16 if x_label else 0) + 18
    plot_w, plot_h = width - left - right, height - top - bottom
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if hi == lo:
        lo, hi = lo - 1.0, hi + 1.0
    steps = max((len(v) for v in points.values()), default=1)

    def x(i: int) -> float:
        return left + (i / max(steps - 1, 1)) * plot_w

    def y(v: float) -> float:
        return top + plot_h - (v - lo) / (hi - lo) * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="{escape(title or "chart")}" class="chart" '
           f'style="{_FONT};font-size:11px">']
    if title:
        out.append(f"<title>{escape(title)}</title>")
        out.append(f'<text x="{left}" y="18" font-size="13" font-weight="600" fill="#222">{escape(title)}</text>')
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        ty = _num(y(v))
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{ty}" y2="{ty}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 6}" y="{ty}" text-anchor="end" dominant-baseline="middle" fill="#555">'
                   f"{escape(_short(v))}</text>")
    for i in sorted({0, steps - 1, (steps - 1) // 2}):
        out.append(f'<text x="{_num(x(i))}" y="{top + plot_h + 14}" text-anchor="middle" fill="#333">{i}</text>')
    if y_label:
        out.append(f'<text transform="translate(14 {_num(top + plot_h / 2)}) rotate(-90)" text-anchor="middle" '
                   f'fill="#555">{escape(y_label)}</text>')
    if x_label:
        out.append(f'<text x="{_num(left + plot_w / 2)}" y="{top + plot_h + 32}" text-anchor="middle" '
                   f'fill="#555">{escape(x_label)}</text>')
    for j, name in enumerate(names):
        color = PALETTE[j % len(PALETTE)]
        path = " ".join(f"{_num(x(i))},{_num(y(v))}" for i, v in enumerate(points[name]) if math.isfinite(v))
        dash = ' stroke-dasharray="6 4"' if name in dashed else ""
        out.append(f'<polyline class="curve" points="{path}" fill="none" stroke="{color}" stroke-width="1.8"{dash}>'
                   f"<title>{escape(name)}</title></polyline>")
    lx = left
    for j, name in enumerate(names):
        out.append(f'<rect x="{lx}" y="{height - 17}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>')
        out.append(f'<text x="{lx + 14}" y="{height - 8}" fill="#333">{escape(name)}</text>')
        lx += 24 + 7 * len(name)
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#888"/>')
    out.append("</svg>")
    return "\n".join(out)
