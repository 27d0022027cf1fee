import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bridge.report.html import histogram_svg, latency_svgs, render_html, write_html
from bridge.report.svg import bar_chart, nice_ticks


def test_page_is_self_contained_and_escaped(report, tmp_path):
    path = write_html(report, tmp_path / "report.html")
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script>alert(1)</script>" not in page and "<script" not in page
    assert "fixtures/m.py:Net&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "probs&lt;&amp;&gt;" in page and "x&lt;in&gt;" in page
    assert "RuntimeError: &lt;boom&gt;" in page
    assert not re.search(r"""\bsrc\s*=""", page, re.I)
    assert not re.search(r"""href\s*=\s*["']?(https?:)?//""", page, re.I)
    assert "@import" not in page and "url(" not in page
    for text in ("/tmp/out/model.onnx", "torch.onnx (dynamo)", "4×10", "FAIL", "PASS", "harness overhead"):
        assert text in page
    assert "first breaks" not in page
    report["first_failure"] = {"format": "tf", "runtime": "tensorflow", "reference": "onnx<1>", "inputs": "x: 4x10"}
    assert "parity first breaks at <b>tf</b> (tensorflow) against onnx&lt;1&gt; with inputs x: 4x10" in render_html(report)


def test_one_histogram_per_float_output_and_latency_charts(report):
    page = render_html(report)
    # Outputs with a histogram: logits (onnx stage), logits, probs, nan_out (tf stage); the errored stage has none.
    assert page.count('aria-label="logits: |error| histogram"') == 2
    assert 'aria-label="probs&lt;&amp;&gt;: |error| histogram"' in page
    assert 'aria-label="nan_out: |error| histogram"' in page
    # Two runtimes: an overview plus one chart each.
    for label in ("latency, all runtimes", "latency: onnx/onnxruntime/cpu", "latency: tf/tensorflow/cpu"):
        assert f'aria-label="{label}"' in page
    assert page.count("<svg") == 4 + 3


def test_histogram_marks_atol_and_colours_bins(report):
    out = report["parity"][1]["outputs"][1]
    svg = histogram_svg(out)
    assert "atol 0.0001" in svg and 'stroke-dasharray' in svg
    assert svg.count("<rect") == 12
    assert "#e45756" in svg and "#54a24b" in svg  # bins past atol red, within atol green
    assert histogram_svg({"name": "y", "passed": False, "problem": "missing"}) == ""


def test_latency_single_runtime_has_no_overview(report):
    bench = [b for b in report["bench"] if b["runtime"] == "tensorflow"]
    charts = latency_svgs(bench)
    assert len(charts) == 1 and "batch 8" in charts[0]
    assert charts[0].count("<rect") == 2 * 3 + 3  # bars + legend swatches


def test_bar_chart_escapes_and_ticks():
    svg = bar_chart(["a<b"], {"s&t": [3.0], "u": [float("nan")]}, title='"q"')
    assert "a&lt;b" in svg and "s&amp;t" in svg and "&quot;q&quot;" in svg
    assert nice_ticks(7.3) == [0, 2, 4, 6, 8]
    assert nice_ticks(0.0) == [0.0, 1.0]


def test_several_reports_get_sections(report):
    other = {"source": {"path": "b.onnx", "format": "onnx"}, "parity": [], "bench": [], "passed": True}
    page = render_html([report, other])
    assert 'href="#model-1"' in page and 'id="model-1"' in page and "2 models, 1 passed" in page


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="no /usr/bin/chromium to render with")
def test_renders_in_headless_chromium(report, tmp_path):
    page = write_html(report, tmp_path / "report.html")
    png = tmp_path / "report.png"
    subprocess.run([shutil.which("chromium") or "/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    f"--screenshot={png}", "--window-size=1280,2400", page.resolve().as_uri()],
                   capture_output=True, timeout=120, check=False)
    assert png.is_file() and png.stat().st_size > 10_000


def test_crowded_latency_labels_are_slanted():
    cats = [f"tflite/tflite/cpu batch {b}" for b in range(12)]
    svg = bar_chart(cats, {"p50": [1.0] * 12, "p90": [2.0] * 12}, width=700)
    assert svg.count("rotate(-35)") == 12
    roomy = bar_chart(["a", "b"], {"p50": [1.0, 2.0]}, width=700)
    assert "rotate(-35)" not in roomy


def test_live_report_with_numpy_scalars_and_nan(report):
    import numpy as np

    report["bench"][0].update(p50_ms=np.float32(2.0), p90_ms=float("nan"), p99_ms="inf")
    report["parity"][1]["outputs"][1].update(atol=np.float64(1e-4), mismatch_ratio=float("nan"))
    page = render_html(report)
    assert "atol 0.0001" in page and page.count("<svg") == 7
