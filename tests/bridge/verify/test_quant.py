"""The verdict rule for quantized artifacts: SNR, cosine, top-k agreement, thresholds per mode, summaries."""

import math
from pathlib import Path

import numpy as np
import pytest

from bridge.errors import UsageError
from bridge.model import Artifact
from bridge.verify.compare import StageParity
from bridge.verify.quant import (DEFAULTS, QuantThresholds, judge_output, parse_thresholds, ratios_to_float, snr_db,
                                 summarize, topk_agreement)

rng = np.random.default_rng(0)


def test_snr_is_signal_over_noise_power_in_db():
    ref = rng.standard_normal(10_000)
    noise = rng.standard_normal(10_000) * 0.1  # noise power 1% of the signal's: 20 dB
    assert snr_db(ref, ref + noise) == pytest.approx(20.0, abs=0.2)
    assert snr_db(ref, ref) == math.inf and snr_db(np.zeros(3), np.ones(3)) == -math.inf


def test_topk_agreement_on_score_matrices_only():
    ref = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.3, 0.3, 0.4]])
    cand = ref.copy()
    cand[0] = [0.9, 0.1, 0.0]  # top-1 changes on one row of four
    assert topk_agreement(ref, cand, 1) == 0.75
    assert topk_agreement(ref, cand, 5) is None  # three classes: top-5 says nothing
    wide_ref = rng.standard_normal((50, 10))
    wide = wide_ref.copy()
    rows = np.arange(50)
    wide[rows, np.argmax(wide_ref, axis=1)] = np.sort(wide_ref, axis=1)[:, -2] - 1e-3  # now second best
    assert topk_agreement(wide_ref, wide, 1) == 0.0 and topk_agreement(wide_ref, wide, 5) == 1.0
    wide[rows, np.argmax(wide_ref, axis=1)] = -100.0  # now the worst class
    assert topk_agreement(wide_ref, wide, 5) == 0.0
    assert topk_agreement(rng.standard_normal(10), rng.standard_normal(10), 1) is None


def test_verdict_by_min_snr_and_min_cosine_with_defaults_per_mode():
    ref = rng.standard_normal((64, 10)).astype(np.float32)
    cand = ref + rng.standard_normal(ref.shape).astype(np.float32) * 0.05  # ~26 dB
    ok = judge_output("logits", ref, cand, "int8", QuantThresholds(), samples=64)
    assert ok.passed and ok.rule == "snr" and 25 < ok.snr_db < 27 and ok.cosine > 0.99
    assert (ok.min_snr_db, ok.min_cosine) == DEFAULTS["int8"] and ok.samples == 64
    assert ok.top1_agreement is not None and ok.top1_agreement > 0.9
    assert not judge_output("logits", ref, cand, "fp16", QuantThresholds()).passed  # fp16 asks for 40 dB
    strict = QuantThresholds(min_snr={"int8": 30.0})
    assert not judge_output("logits", ref, cand, "int8", strict).passed
    assert judge_output("logits", ref, cand, "dynamic", strict).passed  # other modes keep their defaults
    assert not judge_output("logits", ref, cand, "int8", QuantThresholds(min_cosine={"*": 0.9999})).passed
    shape = judge_output("logits", ref, cand[:10], "int8", QuantThresholds())
    assert not shape.passed and "shape" in shape.problem
    json = ok.to_json()
    assert json["snr_db"] == ok.snr_db and json["rule"] == "snr" and json["top5_agreement"] == ok.top5_agreement


def test_threshold_options_parse_per_mode_and_refuse_nonsense():
    assert parse_thresholds(["20", "int8:12.5"], "--min-snr") == {"*": 20.0, "int8": 12.5}
    assert QuantThresholds(min_snr={"*": 20.0, "int8": 12.5}).for_mode("int8") == (12.5, DEFAULTS["int8"][1])
    assert QuantThresholds(min_snr={"*": 20.0}).for_mode("fp16")[0] == 20.0
    with pytest.raises(UsageError, match="unknown mode 'int4'"):
        parse_thresholds(["int4:3"], "--min-snr")
    with pytest.raises(UsageError, match="is not a number"):
        parse_thresholds(["int8:high"], "--min-cosine")


def test_latency_ratio_to_the_float_tflite_measured_in_the_same_run():
    bench = [{"format": "tflite", "device": "cpu", "batch": 1, "threads": None, "p50_ms": 2.0},
             {"format": "tflite", "quantize": "int8", "label": "tflite[int8]", "device": "cpu", "batch": 1,
              "threads": None, "p50_ms": 0.5},
             {"format": "tflite", "quantize": "fp16", "device": "cpu", "batch": 8, "threads": None, "p50_ms": 3.0}]
    ratios_to_float(bench)
    assert bench[1]["p50_vs_float_tflite"] == 0.25 and "p50_vs_float_tflite" not in bench[2]


def test_summary_reports_size_and_what_keep_float_bought_back(tmp_path):
    def artifact(name: str, size: int, variant: str = "", mode: str = "") -> Artifact:
        path = Path(tmp_path / name)
        path.write_bytes(b"\0" * size)
        meta = {"quantize": mode, "report": {"quantize": mode}} if mode else {}
        return Artifact(format="tflite", path=path, variant=variant, meta=meta)

    ref = rng.standard_normal((32, 10))
    bad = judge_output("y", ref, ref * 0.2 + rng.standard_normal(ref.shape), "int8", QuantThresholds(), 32)
    good = judge_output("y", ref, ref + rng.standard_normal(ref.shape) * 0.01, "int8", QuantThresholds(), 32)
    artifacts = [artifact("m.tflite", 4000), artifact("m_int8.tflite", 1000, "int8", "int8"),
                 artifact("m_int8_keep_float.tflite", 1500, "int8+keep-float", "int8")]
    parity = [StageParity("tflite", "tflite", "cpu", "torch", [bad], variant="int8", quantize="int8", advisory=True),
              StageParity("tflite", "tflite", "cpu", "torch", [good], variant="int8+keep-float", quantize="int8")]
    summary = {s["label"]: s for s in summarize(parity, artifacts, "torch")}
    assert summary["tflite[int8]"]["size_vs_float"] == 0.25 and not summary["tflite[int8]"]["passed"]
    assert summary["tflite[int8]"]["advisory"] is True
    bought = summary["tflite[int8+keep-float]"]["bought_back"]
    assert bought["against"] == "tflite[int8]" and bought["size_bytes"] == 500
    assert bought["snr_db"] == pytest.approx(good.snr_db - bad.snr_db) and bought["snr_db"] > 30
    assert bought["top1_agreement"] > 0
