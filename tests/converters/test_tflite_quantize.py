"""Quantized TFLite end to end: a CNN trained on scikit-learn's digits (accuracy is a number), a model made to
break under int8 (its layer is found and fixed), and ONNX models that ONNX Runtime already quantized."""

import json

import numpy as np
import pytest

import bridge
from bridge.runtimes import load_runner
from bridge.tflite_flatbuffer import float_compute_ops, op_census, read_metadata
from bridge.verify.quant import DEFAULTS
from tests.conftest import FIXTURES, run_bridge

pytestmark = pytest.mark.slow

OUTLIER = f"{FIXTURES / 'outlier.py'}:OutlierCNN"


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The trained digits CNN converted to every mode, int8 calibrated on the training split."""
    pytest.importorskip("sklearn")
    from fixtures.models.digits import train_digits_cnn

    model, (x_train, _y_train), (x_test, y_test) = train_digits_cnn()
    result = bridge.convert(model, to="tflite", out_dir=tmp_path_factory.mktemp("digits"), inputs=[x_test[:1]],
                            quantize="fp16,dynamic,int8,int8x16", calibration={"x": x_train}, int8_io=True)
    return result, x_test, y_test


def _accuracy(artifact, x, y):
    from fixtures.models.digits import accuracy

    runner = load_runner(artifact)
    return accuracy(np.concatenate([runner.run({"x": x[i:i + 1]})["output"] for i in range(len(x))]), y)


def test_digits_cnn_int8_keeps_accuracy_at_a_third_of_the_size_and_every_mode_passes(digits):
    """One test, so that xdist trains and converts the digits model once."""
    result, x_test, y_test = digits
    _int8_accuracy_size_and_kernels(result, x_test, y_test)
    _every_mode_passes_its_default_verdict(result)
    _verify_judges_the_int8_file_by_snr(result, x_test)


def _int8_accuracy_size_and_kernels(result, x_test, y_test):
    by_label = {a.label: a for a in result.artifacts}
    float_tflite, int8 = by_label["tflite"], by_label["tflite[int8]"]
    float_acc, int8_acc = _accuracy(float_tflite, x_test, y_test), _accuracy(int8, x_test, y_test)
    assert float_acc > 0.9 and abs(float_acc - int8_acc) <= 0.01, (float_acc, int8_acc)
    assert int8.size_bytes <= 0.3 * float_tflite.size_bytes, (int8.size_bytes, float_tflite.size_bytes)
    flatbuffer = int8.path.read_bytes()
    assert float_compute_ops(flatbuffer) == {}  # no float CONV_2D or FULLY_CONNECTED left
    integer = {(r.op, r.input_type) for r in op_census(flatbuffer)}
    assert {("CONV_2D", "INT8"), ("FULLY_CONNECTED", "INT8"), ("MAX_POOL_2D", "INT8")} <= integer
    assert float_compute_ops(float_tflite.path.read_bytes()) == {"CONV_2D": 2, "FULLY_CONNECTED": 2}
    # --int8-io: int8 at the interface, its scale and zero point in the metadata, applied by the runner
    meta = read_metadata(flatbuffer)
    assert meta["quantize"] == "int8" and meta["int8_io"] is True
    x_q = meta["input_quantization"]["x"]
    assert x_q["dtype"] == "int8" and 0 < x_q["scale"] < 0.02  # pixels in [0, 1] over 256 steps
    assert not any(r.op == "QUANTIZE" and r.input_type == "FLOAT32" for r in op_census(flatbuffer))
    runner = load_runner(int8)
    assert runner.input_specs[0].dtype == "float32" and runner.run({"x": x_test[:1]})["output"].dtype == np.float32


def _every_mode_passes_its_default_verdict(result):
    summary = {q["label"]: q for q in result.quantization}
    assert set(summary) == {"tflite[fp16]", "tflite[dynamic]", "tflite[int8]", "tflite[int8x16]"}
    for entry in summary.values():
        assert entry["passed"], entry
        assert (entry["min_snr_db"], entry["min_cosine"]) == DEFAULTS[entry["quantize"]]
        assert entry["snr_db"] >= entry["min_snr_db"] and entry["top1_agreement"] >= 0.98
        assert entry["samples"] == 512  # judged on the first 512 calibration samples
    assert summary["tflite[int8]"]["calibration"] == "arrays (1437 samples)"
    assert summary["tflite[fp16]"]["size_vs_float"] < 0.55 and summary["tflite[dynamic]"]["size_vs_float"] < 0.3
    assert summary["tflite[int8x16]"]["snr_db"] > summary["tflite[int8]"]["snr_db"]  # int16 activations help
    stages = [p for p in result.parity if p.quantize]
    assert {(p.label, p.reference) for p in stages} >= {("tflite[int8]", "torch"), ("tflite[int8]", "tflite")}
    assert result.passed and not result.warnings
    report = result.to_json()
    assert report["quantization"] and {a.get("quantize") for a in report["artifacts"]} >= {"int8", "fp16"}


def _verify_judges_the_int8_file_by_snr(result, x_test):
    int8 = next(a for a in result.artifacts if a.label == "tflite[int8]")
    checked = bridge.verify([int8.path], result.source.handle, inputs=[x_test[:1]], calibration={"x": x_test})
    assert [p.label for p in checked.parity] == ["tflite[int8]"] and checked.passed
    assert checked.parity[0].outputs[0].rule == "snr" and checked.quantization[0]["samples"] == 360


def test_outlier_layer_fails_its_snr_check_and_localize_names_it_first(tmp_path):
    out = tmp_path / "out"
    proc = run_bridge("convert", OUTLIER, "--to", "tflite", "--quantize", "int8", "--localize", "--out", str(out),
                      "--report", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html"), "--quiet")
    assert proc.returncode == 1, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    (entry,) = report["quantization"]
    assert entry["label"] == "tflite[int8]" and not entry["passed"] and entry["snr_db"] < DEFAULTS["int8"][0]
    (layers,) = [loc for loc in report["localization"] if loc.get("kind") == "quantized-layers"]
    worst = layers["worst"]
    assert worst[0]["module"] == "conv2" and worst[0]["op_type"] == "Conv" and worst[0]["snr_lost_db"] > 20
    assert all(w["snr_lost_db"] < 5 for w in worst[1:])
    assert "localised: tflite[int8] vs tflite" in proc.stdout and "module conv2" in proc.stdout
    assert report["first_failure"]["label"] == "tflite[int8]"
    html = (tmp_path / "r.html").read_text()
    assert "SNR against depth" in html and "per-layer error: tflite[int8] vs tflite" in html


def test_keep_float_on_the_outlier_layer_makes_it_pass_and_reports_what_it_bought(tmp_path):
    result = bridge.convert(OUTLIER, to="tflite", out_dir=tmp_path, quantize="int8", keep_float=["conv2"])
    summary = {q["label"]: q for q in result.quantization}
    fixed, baseline = summary["tflite[int8+keep-float]"], summary["tflite[int8]"]
    assert fixed["passed"] and not baseline["passed"] and baseline["advisory"]
    assert result.passed and result.exit_code == 0  # the baseline is reported, not judged
    bought = fixed["bought_back"]
    assert bought["against"] == "tflite[int8]" and bought["snr_db"] > 20 and bought["size_bytes"] > 0
    assert fixed["keep_float"]["patterns"] == ["conv2"] and len(fixed["keep_float"]["nodes"]) == 1
    kept = next(a for a in result.artifacts if a.label == "tflite[int8+keep-float]")
    assert kept.path.name == "OutlierCNN_int8_keep_float.tflite"
    assert float_compute_ops(kept.path.read_bytes()) == {"CONV_2D": 1}  # conv2 alone stays float
    timed = bridge.bench([a for a in result.artifacts if a.format == "tflite"], runs=5)
    rows = {b.get("label", b["format"]): b for b in timed.bench}
    assert set(rows) == {"tflite", "tflite[int8]", "tflite[int8+keep-float]"}
    assert rows["tflite[int8]"]["quantize"] == "int8" and rows["tflite[int8]"]["p50_vs_float_tflite"] > 0
    from bridge.report.junit import junit_xml

    xml = junit_xml(result.to_json())
    assert "<skipped" in xml and 'failures="0"' in xml


def _export_small_cnn(path):
    import torch

    from fixtures.models.small_cnn import SmallCNN

    model = SmallCNN().eval()
    torch.onnx.export(model, model.example_inputs(), str(path), input_names=["x"], output_names=["y"], dynamo=False,
                      opset_version=17)
    return model


class _Reader:
    def __init__(self, batches):
        self._it = iter(batches)

    def get_next(self):
        return next(self._it, None)


def _batches(shape, count=8):
    rng = np.random.default_rng(1)
    return [{"x": rng.standard_normal(shape).astype(np.float32)} for _ in range(count)]


def test_qdq_model_from_onnxruntime_quantize_static_keeps_its_scales_and_matches_ort(tmp_path):
    import onnx
    from onnx import numpy_helper
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    _export_small_cnn(tmp_path / "cnn.onnx")
    batches = _batches((2, 3, 32, 32))
    reader = type("Reader", (_Reader, CalibrationDataReader), {})(batches)
    quantize_static(str(tmp_path / "cnn.onnx"), str(tmp_path / "qdq.onnx"), reader, quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    calibration = {"x": np.concatenate([b["x"] for b in batches])}
    result = bridge.convert(tmp_path / "qdq.onnx", to="tflite", out_dir=tmp_path / "out", quantize="int8",
                            calibration=calibration)
    (stage,) = [p for p in result.parity if p.label == "tflite[int8]" and p.reference == "onnx"]
    assert stage.passed and stage.outputs[0].cosine >= 0.99, stage.to_json()
    int8 = next(a for a in result.artifacts if a.label == "tflite[int8]")
    assert "ONNX model" in int8.meta["report"]["scales"] and float_compute_ops(int8.path.read_bytes()) == {}
    # the input's scale and zero point are ONNX Runtime's, not recalibrated
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(tmp_path / "qdq.onnx")).graph.initializer}
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(int8.path))
    tensors = interpreter.get_tensor_details()
    quantize = next(op for op in interpreter._get_ops_details() if op["op_name"] == "QUANTIZE")
    params = tensors[quantize["outputs"][0]]["quantization_parameters"]
    assert params["scales"][0] == pytest.approx(float(inits["x_scale"]), rel=1e-6)
    assert params["zero_points"][0] == int(inits["x_zero_point"])


def test_qlinear_conv_and_matmul_model_converts_to_int8_matching_ort(tmp_path):
    import torch
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from torch import nn

    class ConvMatMul(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.c1, self.c2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
            self.w = nn.Parameter(torch.randn(8 * 4 * 4, 10) * 0.1)

        def forward(self, x):
            x = torch.max_pool2d(torch.relu(self.c1(x)), 2)
            return torch.flatten(torch.max_pool2d(torch.relu(self.c2(x)), 2), 1) @ self.w

    torch.onnx.export(ConvMatMul().eval(), (torch.randn(1, 3, 16, 16),), str(tmp_path / "f.onnx"), input_names=["x"],
                      output_names=["y"], dynamo=False, opset_version=13)
    batches = _batches((1, 3, 16, 16), 16)
    reader = type("Reader", (_Reader, CalibrationDataReader), {})(batches)
    # reduce_range: 7-bit weights. On a CPU without VNNI, ORT's u8 x s8 kernels add products in pairs into
    # saturating int16 (vpmaddubsw), so full-range weights make ORT itself stray from the ONNX definition
    # (by up to 60 steps on this fixture) and it could not be the reference; ORT advises reduce_range there.
    quantize_static(str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx"), reader, quant_format=QuantFormat.QOperator,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                    reduce_range=True)
    import onnx

    assert {"QLinearConv", "QLinearMatMul"} <= {n.op_type for n in onnx.load(str(tmp_path / "q.onnx")).graph.node}
    result = bridge.convert(tmp_path / "q.onnx", to="tflite", out_dir=tmp_path / "out", quantize="int8",
                            calibration={"x": np.concatenate([b["x"] for b in batches])})
    (stage,) = [p for p in result.parity if p.label == "tflite[int8]" and p.reference == "onnx"]
    assert stage.passed and stage.outputs[0].cosine >= 0.99, stage.to_json()
    int8 = next(a for a in result.artifacts if a.label == "tflite[int8]")
    assert float_compute_ops(int8.path.read_bytes()) == {}
    # the float TFLite of the QLinear graph runs on builtins (exact float32 sums, the uint8 max pool in float32)
    # and equals ONNX Runtime, so the whole run passes
    floating = next(a for a in result.artifacts if a.label == "tflite")
    assert "flex_ops" not in floating.meta and result.passed, [p.to_json() for p in result.parity if not p.passed]
