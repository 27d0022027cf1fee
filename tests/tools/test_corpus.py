"""The corpus's locally produced models (other exporters, no download) convert as the corpus records them."""

import pytest

from tools._corpus_entries import ENTRIES
from tools.corpus import RANK, render_table, run_entry

QUICK = [e for e in ENTRIES if e.quick]


def test_the_corpus_spans_enough_models_and_producers():
    assert len(ENTRIES) >= 20
    assert len({e.producer.split(" (")[0] for e in ENTRIES}) >= 4
    assert all(not e.download for e in QUICK) and len(QUICK) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("item", QUICK, ids=[e.name for e in QUICK])
def test_local_corpus_model_converts_as_expected(item, tmp_path):
    row = run_entry(item, tmp_path / "cache", tmp_path / "out")
    assert RANK[row["outcome"]] >= RANK[item.expect], row
    if row["outcome"] == "pass":
        assert row["tf_max_abs"] <= 1e-4 and row["tflite_max_abs"] <= 1e-4, row
        assert row["flex"] == [] and row["tflite_ops"] > 0
    if item.expect == "unsupported":
        assert row["reason"].startswith("exit 3"), row


def test_table_lists_every_model_and_explains_each_shortfall():
    rows = [{"model": "a", "producer": "tf2onnx", "opset": "13", "tf": "pass", "tf_max_abs": 1e-7, "tflite": "pass",
             "tflite_max_abs": 2e-7, "flex": [], "transposes": 2, "seconds": 3.0, "outcome": "pass", "note": ""},
            {"model": "b", "producer": "skl2onnx", "outcome": "unsupported", "reason": "exit 3: lacks Scaler",
             "note": ""}]
    text = render_table(rows)
    assert "| a | tf2onnx | 13 | - | pass (1.0e-07) | pass (2.0e-07) | none | 2 | 3.0 |  |" in text
    assert "2 models from 2 producers: 1 pass end to end" in text
    assert "- **b**: exit 3: lacks Scaler" in text
