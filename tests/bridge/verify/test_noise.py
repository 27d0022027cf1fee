"""The noise-calibrated rule on tiny real models: both directions, the fixed-rule switches and fallbacks."""

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper

import bridge
from bridge.verify import noise
from bridge.sources import model_from_module
from bridge.verify.compare import Tolerances, compare_outputs
from tests.conftest import FIXTURES, run_bridge

SEED = f"{FIXTURES / 'seed_mlp.py'}:SeedMLP"


def _scale_largest_weight(path, factor=1.001):
    model = onnx.load(path)
    init = max((i for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT), key=lambda t: np.prod(t.dims))
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * np.float32(factor), init.name))
    onnx.save(model, path)
    return init.name


@pytest.fixture(scope="module")
def seed_onnx(tmp_path_factory):
    return bridge.convert(SEED, to="onnx", out_dir=tmp_path_factory.mktemp("seed"), verify=False).artifacts[0].path


def test_correct_conversion_passes_within_a_few_floors_and_reports_the_numbers(seed_onnx):
    result = bridge.verify([seed_onnx], SEED)
    [stage] = result.parity
    [out] = stage.outputs
    assert stage.calibration == "noise-calibrated against torch float64"
    assert out.rule == "calibrated" and out.passed
    assert 0 < out.noise_floor < 1e-5 and out.error <= out.noise_limit
    assert out.noise_ratio == pytest.approx(out.error / out.noise_floor)
    assert out.noise_ratio < 8 and out.noise_factor == 8
    data = result.to_json()["parity"][0]["outputs"][0]
    assert {"rule", "error", "noise_floor", "noise_ratio", "noise_limit"} <= set(data)


def test_one_weight_scaled_by_1_001_fails(seed_onnx, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(seed_onnx.read_bytes())
    _scale_largest_weight(bad)
    result = bridge.verify([bad], SEED)
    [out] = result.parity[0].outputs
    assert not out.passed and result.exit_code == 1
    assert out.noise_ratio > 50  # far outside the noise


def test_atol_and_rtol_switch_outputs_to_the_fixed_rule(tmp_path):
    source = f"{FIXTURES / 'two_io.py'}:make_two_io"
    art = bridge.convert(source, to="onnx", out_dir=tmp_path, verify=False).artifacts
    per_output = bridge.verify(art, source, tolerances=Tolerances(per_output_atol={"joint": 1e-3}))
    rules = {o.name: o.rule for o in per_output.parity[0].outputs}
    assert rules == {"similarity": "calibrated", "joint": "fixed"}
    everywhere = bridge.verify(art, source, tolerances=Tolerances(atol=1e-3))
    assert {o.rule for o in everywhere.parity[0].outputs} == {"fixed"}
    assert everywhere.parity[0].calibration == "fixed rule: --atol/--rtol given"
    assert Tolerances().explicit is False and Tolerances(rtol=1e-2).explicit is True


class Doubler(torch.nn.Module):
    def forward(self, x):
        return {"twice": x * 2, "sum": x.sum(-1)}


def test_an_output_the_source_computes_exactly_passes_on_the_ulp_allowance():
    model = model_from_module(Doubler(), "<doubler>", "doubler", (torch.randn(3, 5),))
    x = model.example_inputs["x"]
    truth = noise.float64_truth(model, {"x": x})
    assert truth.outputs["twice"].dtype == np.float64
    result = compare_outputs({"twice": x * 2}, {"twice": x * 2 + 1e-9})
    noise.calibrate(result, {"twice": x * 2}, {"twice": x * 2 + 1e-9}, truth, Tolerances())
    [out] = result
    assert out.noise_floor == 0 and out.passed  # 1e-9 is under 4 ULPs of max|2x|
    worse = compare_outputs({"twice": x * 2}, {"twice": x * 2 + 1e-4})
    noise.calibrate(worse, {"twice": x * 2}, {"twice": x * 2 + 1e-4}, truth, Tolerances())
    assert not worse[0].passed and worse[0].noise_ratio == float("inf")


class Float32Only(torch.nn.Module):
    def forward(self, x):
        if x.dtype != torch.float32:
            raise TypeError("float32 only")
        return x + 1


def test_a_module_that_refuses_float64_falls_back_to_the_fixed_rule_and_says_why():
    model = model_from_module(Float32Only(), "<f32>", "f32", (torch.randn(2, 3),))
    truth = noise.float64_truth(model, model.example_inputs)
    assert truth.outputs is None and "float32 only" in truth.note and truth.note.startswith("fixed rule")


def test_onnx_source_uses_the_reference_evaluator_in_float64_or_says_it_is_too_large(seed_onnx, tmp_path, monkeypatch):
    result = bridge.convert(str(seed_onnx), to="tf", out_dir=tmp_path / "a")
    stage = result.parity[0]
    assert stage.calibration == "noise-calibrated against onnx reference evaluator (float64)"
    assert stage.outputs[0].rule == "calibrated" and result.passed
    monkeypatch.setattr(noise, "ONNX_REFERENCE_LIMIT", 1000)
    checked = bridge.verify(result.artifacts, str(seed_onnx))
    assert "weight elements, more than the float64 reference evaluator takes (1,000)" in checked.parity[0].calibration
    assert checked.parity[0].outputs[0].rule == "fixed"


def test_double_onnx_casts_constants_casts_and_attributes():
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])
    nodes = [helper.make_node("Constant", [], ["c"], value_float=1.0 / 3.0),
             helper.make_node("Cast", ["x"], ["xi"], to=onnx.TensorProto.FLOAT),
             helper.make_node("Add", ["xi", "c"], ["y"])]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 18)])
    out = noise.onnx_float64_outputs(model, {"x": np.array([1.0, 2.0], np.float32)})["y"]
    # the stored constant is a float32; the sum is exact in float64, not rounded again to float32
    assert out.dtype == np.float64 and out[0] == 1 + float(np.float32(1 / 3))


def test_noise_factor_must_be_positive(tmp_path):
    proc = run_bridge("convert", SEED, "--to", "onnx", "--out", str(tmp_path), "--noise-factor", "0")
    assert proc.returncode == 2 and "--noise-factor" in proc.stderr and "Traceback" not in proc.stderr


def test_html_histogram_draws_the_floor_and_the_limit(seed_onnx):
    from bridge.report.html import histogram_svg, render_html

    data = bridge.verify([seed_onnx], SEED).to_json()
    out = data["parity"][0]["outputs"][0]
    svg = histogram_svg(out, against="float64 truth")
    assert "floor " in svg and "limit 8× floor" in svg and "float64 truth" in svg
    assert svg.count("stroke-dasharray") == 2
    page = render_html(data)
    assert "noise-calibrated against torch float64" in page and "× floor" in page
