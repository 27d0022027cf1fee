"""Quantized artifacts in the terminal, HTML and JUnit reports, from real verdicts and a JSON round trip."""

import json

import numpy as np

from bridge.report.html import render_html
from bridge.report.json_report import to_jsonable
from bridge.report.junit import junit_xml
from bridge.report.quant import describe_bought_back, layers_svg, print_quantization
from bridge.verify.compare import StageParity
from bridge.verify.quant import QuantThresholds, judge_output
from bridge.verify.quant_layers import LayerError, QuantLocalization


def _report():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((64, 10))
    bad = judge_output("logits", ref, rng.standard_normal(ref.shape), "int8", QuantThresholds(), 64)
    good = judge_output("logits", ref, ref + rng.standard_normal(ref.shape) * 0.01, "int8", QuantThresholds(), 64)
    stages = [StageParity("tflite", "tflite", "cpu", "torch", [bad], variant="int8", quantize="int8", advisory=True),
              StageParity("tflite", "tflite", "cpu", "torch", [good], variant="int8+keep-float", quantize="int8")]
    loc = QuantLocalization("tflite[int8]", "tflite", 64, [
        LayerError(0, "node_a/Conv2D", "CONV_2D", "int8", 40.0, 120.0, 80.0, "node_a", "Conv", "conv1", ["node_a"]),
        LayerError(1, "node_b/Conv2D", "CONV_2D", "int8", 2.0, 40.0, 38.0, "node_<b>", "Conv", "conv2", ["node_<b>"]),
        LayerError(2, "tfl.dequantize", "DEQUANTIZE", "float32", 2.0, 2.0, 0.0)])
    quantization = [
        {"label": "tflite[int8]", "quantize": "int8", "size_bytes": 1000, "size_vs_float": 0.25, "passed": False,
         "advisory": True, "snr_db": bad.snr_db, "cosine": bad.cosine, "samples": 64, "min_snr_db": 15.0,
         "min_cosine": 0.98},
        {"label": "tflite[int8+keep-float]", "quantize": "int8", "size_bytes": 1500, "size_vs_float": 0.375,
         "passed": True, "snr_db": good.snr_db, "cosine": good.cosine, "top1_agreement": 1.0, "samples": 64,
         "keep_float": {"patterns": ["conv2"], "nodes": ["node_<b>"]},
         "bought_back": {"against": "tflite[int8]", "snr_db": 38.5, "cosine": 0.9, "size_bytes": 500}}]
    data = {"source": {"path": "m.py:Net", "format": "torch"}, "parity": [s.to_json() for s in stages],
            "quantization": quantization, "localization": [loc.to_json()], "passed": True}
    return json.loads(json.dumps(to_jsonable(data))), stages, loc


def test_localization_ranks_nodes_by_snr_lost_and_says_so():
    _data, _stages, loc = _report()
    assert [l.node for l in loc.ranked] == ["node_a", "node_<b>"]  # glue ops without a node are not ranked
    assert "'node_a' (Conv, module conv1) loses 80.0 dB (exact -> 40.0 dB)" in loc.describe()


def test_html_section_plots_snr_against_depth_and_lists_the_worst_layers():
    data, _stages, _loc = _report()
    page = render_html(data)
    assert '<h2 id="quantization">Quantization</h2>' in page
    assert "SNR against depth" in page and page.count("<svg") >= 1
    assert "node_&lt;b&gt;" in page and "node_<b>" not in page  # user data is escaped
    assert "keep-float: tflite[int8+keep-float] vs tflite[int8]: SNR +38.5 dB" in page
    assert ">baseline<" in page
    svg = layers_svg(data["localization"][0])
    assert svg.count("#e45756") >= 2  # the worst layers are red


def test_terminal_tables_show_labels_and_bought_back(capsys):
    from rich.console import Console

    data, stages, _loc = _report()
    console = Console(width=220, record=True)
    print_quantization(data["quantization"], stages, console=console)
    text = console.export_text()
    assert "tflite[int8+keep-float]" in text and "baseline" in text  # rich markup does not eat "[int8]"
    assert "size +500 bytes" in describe_bought_back(data["quantization"][1])


def test_junit_skips_the_baseline_and_carries_snr_in_failures():
    data, _stages, _loc = _report()
    data["parity"][0]["advisory"] = False  # judged: a failure with its SNR
    xml = junit_xml(data)
    assert "snr" in xml and "dB (min 15)" in xml and 'failures="1"' in xml
    data["parity"][0]["advisory"] = True
    assert "<skipped" in junit_xml(data) and 'failures="0"' in junit_xml(data)
