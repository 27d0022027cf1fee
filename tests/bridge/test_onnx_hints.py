"""Hints are hints: value_info and declared output shapes that contradict shape inference are dropped with a
warning (ONNX Runtime runs such models), exporter idioms ORT accepts are accepted, real errors still refused."""

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from bridge.errors import UsageError
from bridge.onnx_io import load_onnx_checked, onnx_input_specs
from tests.conftest import run_bridge


def _relu_model(value_info=(), output_shape=(2, 3), opsets=(("", 17),), input_shape=(2, 3)):
    nodes = [helper.make_node("Relu", ["x"], ["t"]), helper.make_node("Neg", ["t"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(output_shape))],
                              value_info=list(value_info))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])


def _save(model, tmp_path, name="m.onnx"):
    path = tmp_path / name
    onnx.save(model, path)
    return path


def _ort_runs(path):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": np.ones((2, 3), np.float32)})[0].shape == (2, 3)


WRONG_VALUE_INFO = helper.make_tensor_value_info("t", TensorProto.FLOAT, [5, 7])
NEGATIVE_VALUE_INFO = helper.make_tensor_value_info("t", TensorProto.FLOAT, [-1, 3])  # paddle2onnx writes these


@pytest.mark.parametrize("model, kind", [
    (_relu_model(value_info=[WRONG_VALUE_INFO]), "value_info entries"),
    (_relu_model(value_info=[NEGATIVE_VALUE_INFO]), "value_info entries"),
    (_relu_model(output_shape=(4, 4, 4)), "declared output shapes"),
    (_relu_model(output_shape=(-1, 3)), "declared output shapes"),
])
def test_contradicting_hints_are_dropped_with_a_warning(tmp_path, model, kind):
    path = _save(model, tmp_path)
    assert _ort_runs(path)  # ONNX Runtime treats them as hints too
    warnings = []
    loaded = load_onnx_checked(path, warnings=warnings)
    assert len(warnings) == 1 and f"dropped 1 {kind}" in warnings[0]
    assert not loaded.graph.value_info
    # only the contradicted hint goes
    assert loaded.graph.output[0].type.tensor_type.HasField("shape") == (kind == "value_info entries")


def test_consistent_hints_are_kept_without_warning(tmp_path):
    hint = helper.make_tensor_value_info("t", TensorProto.FLOAT, [2, 3])
    warnings = []
    loaded = load_onnx_checked(_save(_relu_model(value_info=[hint]), tmp_path), warnings=warnings)
    assert warnings == [] and [v.name for v in loaded.graph.value_info] == ["t"]


def test_an_error_that_remains_without_hints_is_still_refused(tmp_path):
    model = _relu_model(output_shape=(2, 3))
    model.graph.output[0].type.tensor_type.elem_type = TensorProto.INT64  # Neg gives float: ORT refuses too
    with pytest.raises(UsageError, match="failed ONNX type and shape inference"):
        load_onnx_checked(_save(model, tmp_path))


@pytest.mark.parametrize("versions, warned", [((15, 15), False), ((13, 15), True)])
def test_default_domain_imported_under_both_names(tmp_path, versions, warned):
    model = _relu_model(opsets=(("", versions[0]), ("ai.onnx", versions[1])))
    path = _save(model, tmp_path)
    assert _ort_runs(path)
    warnings = []
    loaded = load_onnx_checked(path, warnings=warnings)
    assert [(o.domain, o.version) for o in loaded.opset_import] == [("", versions[1])]  # the last, as ORT
    assert bool(warnings) == warned


def test_negative_input_dims_are_dynamic(tmp_path):
    path = _save(_relu_model(input_shape=(-1, 3), output_shape=(-1, 3)), tmp_path)
    loaded = load_onnx_checked(path)
    assert onnx_input_specs(loaded)[0].shape == (None, 3)


@pytest.mark.slow
def test_a_model_with_wrong_value_info_converts_and_the_report_warns(tmp_path):
    path = _save(_relu_model(value_info=[WRONG_VALUE_INFO]), tmp_path)
    report = tmp_path / "report.json"
    result = run_bridge("convert", str(path), "--to", "tf", "--out", str(tmp_path / "out"), "--report", str(report),
                        "--quiet")
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    assert data["passed"]
    assert any("'t' says [5, 7], inference derives [2, 3]" in w for w in data["warnings"])
    assert "warning: dropped 1 value_info entries" in result.stderr


def test_a_model_of_ai_onnx_ml_ops_only_needs_no_default_domain_import(tmp_path):
    import onnxruntime

    path = Path(onnxruntime.__file__).parent / "datasets" / "logreg_iris.onnx"  # OnnxMLTools, ai.onnx.ml only
    model = load_onnx_checked(path)
    assert [o.domain for o in model.opset_import] == ["ai.onnx.ml"]
    relu_without_import = _relu_model(opsets=(("ai.onnx.ml", 1),))
    with pytest.raises(UsageError, match="imports no ai.onnx opset"):
        load_onnx_checked(_save(relu_without_import, tmp_path))


def _default_domain_op(op_type, opset):
    inits = [onnx.numpy_helper.from_array(np.ones(4, np.float32), "s"), onnx.numpy_helper.from_array(np.zeros(4, np.float32), "b")]
    graph = helper.make_graph([helper.make_node(op_type, ["x", "s", "b"], ["y"], axis=-1)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_an_op_onnx_runtime_defines_is_accepted_where_the_onnx_checker_does_not_know_it(tmp_path):
    """ORT's optimisers write default-domain LayerNormalization below opset 17: ORT runs it, so do we."""
    warnings = []
    model = load_onnx_checked(_save(_default_domain_op("LayerNormalization", 14), tmp_path), warnings=warnings)
    assert model.graph.node[0].op_type == "LayerNormalization"
    assert any("ONNX Runtime loads the model" in w for w in warnings), warnings
    with pytest.raises(UsageError, match="failed the ONNX checker: No Op registered for NoSuchNorm"):
        load_onnx_checked(_save(_default_domain_op("NoSuchNorm", 14), tmp_path, "bad.onnx"))
