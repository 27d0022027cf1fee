"""The make-bench tooling itself (no timing is asserted): the generated external-data transformer converts
with streamed weights, ratios pair rounds, row kinds register once."""

from pathlib import Path

import onnx
import pytest

import bridge
from benchmarks.memory import write_transformer
from benchmarks.rows import RATIOS, ROW_KINDS, row_kind
from benchmarks.run import _paired_ratio, _workdir
from bridge_converters.onnx_tf.weights import is_external


def test_generated_transformer_keeps_its_weights_external_and_converts(tmp_path):
    path = tmp_path / "t.onnx"
    weight_bytes = write_transformer(path, hidden=64, layers=2, heads=4)
    assert weight_bytes == 2 * 12 * 64 * 64 * 4 == (tmp_path / "t.onnx.data").stat().st_size
    model = onnx.load(str(path), load_external_data=False)
    assert sum(is_external(t) for t in model.graph.initializer) == 2 * 6
    result = bridge.convert(path, to="tf", out_dir=tmp_path / "out")
    assert result.passed and max(o.max_abs for p in result.parity for o in p.outputs) <= 1e-4
    assert [list(o.shape) for p in result.parity for o in p.outputs] == [[1, 16, 64]] * len(result.parity)


def test_paired_ratio_is_the_median_of_round_ratios():
    num = {"round_p50_ms": [2.0, 9.0, 3.0]}
    den = {"round_p50_ms": [1.0, 3.0, 1.0]}
    assert _paired_ratio(num, den) == 3.0  # rounds: 2, 3, 3
    assert _paired_ratio(num, {"round_p50_ms": [1.0]}) is None  # not measured in the same rounds
    assert _paired_ratio({"error": "x"}, den) is None and _paired_ratio(None, den) is None


def test_row_kinds_register_once_and_ratios_name_known_labels():
    assert {"ours", "xla", "keras"} <= set(ROW_KINDS)
    assert ("tf/keras", "tf", "keras_tf") in RATIOS
    with pytest.raises(ValueError, match="twice"):
        row_kind("ours")(lambda case: [])


def test_keep_leaves_each_models_artifacts_on_disk_and_without_it_nothing(tmp_path):
    with _workdir("bench-x-", tmp_path) as kept:
        (Path(kept) / "model.tflite").write_bytes(b"x")
    assert (Path(kept) / "model.tflite").is_file() and Path(kept).parent == tmp_path
    with _workdir("bench-x-", None) as scratch:
        (Path(scratch) / "model.tflite").write_bytes(b"x")
    assert not Path(scratch).exists()
