import numpy as np

from bridge.verify.compare import Tolerances, compare_output, compare_outputs


def test_float_within_and_outside_tolerance():
    ref = np.array([1.0, 2.0, 3.0], np.float32)
    ok = compare_output("y", ref, ref + 1e-5, atol=1e-4, rtol=1e-3)
    assert ok.passed and ok.max_abs > 0 and ok.cosine > 0.999999
    bad = compare_output("y", ref, ref + np.array([0, 0, 0.5], np.float32), atol=1e-4, rtol=1e-3)
    assert not bad.passed and abs(bad.max_abs - 0.5) < 1e-6
    assert bad.worst_index == [2] and abs(bad.mismatch_ratio - 1 / 3) < 1e-9


def test_max_rel_skips_references_below_atol_where_the_absolute_error_judges():
    ref = np.array([1e-300, 0.0, 2.0, -4.0])
    got = compare_output("y", ref, ref + np.array([1e-7, 1e-7, 2e-6, 0.0]), atol=1e-5, rtol=1e-3)
    assert got.passed and abs(got.max_rel - 1e-6) < 1e-12 and abs(got.max_abs - 2e-6) < 1e-12
    assert compare_output("y", ref, ref + 1e-7, atol=0.0, rtol=1e-3).max_rel > 1e290  # atol 0: every nonzero counts


def test_matching_nonfinite_values_pass_and_mismatched_fail():
    ref = np.array([np.nan, np.inf, -np.inf, 1.0])
    assert compare_output("y", ref, ref.copy(), 1e-4, 1e-3).passed
    bad = compare_output("y", ref, np.array([np.nan, -np.inf, -np.inf, np.nan]), 1e-4, 1e-3)
    assert not bad.passed and bad.nonfinite_mismatches == 2


def test_integers_and_bools_compare_exactly():
    ref = np.array([1, 2, 3], np.int64)
    assert compare_output("i", ref, ref.copy(), 10.0, 10.0).passed
    assert not compare_output("i", ref, ref + np.array([0, 0, 1]), 10.0, 10.0).passed
    assert not compare_output("b", np.array([True, False]), np.array([True, True]), 1, 1).passed


def test_shape_mismatch_and_missing_output_are_named():
    r = compare_output("y", np.zeros((2, 3)), np.zeros((3, 2)), 1e-4, 1e-3)
    assert not r.passed and r.problem.startswith("shape")
    results = compare_outputs({"a": np.zeros(1), "b": np.zeros(1)}, {"a": np.zeros(1)})
    assert [o.passed for o in results] == [True, False] and results[1].problem == "missing"


def test_per_output_tolerances():
    tol = Tolerances(atol=1e-6, per_output_atol={"logits": 1.0})
    res = compare_outputs({"logits": np.zeros(2), "p": np.zeros(2)}, {"logits": np.full(2, 0.5), "p": np.full(2, 0.5)}, tol)
    assert [o.passed for o in res] == [True, False]


def test_index_ties_broken_differently_are_not_failures():
    values = np.array([[5.0, 5.0, 1.0]], np.float32)
    ref = {"values": values, "indices": np.array([[0, 1, 2]])}
    tie = {"values": values.copy(), "indices": np.array([[1, 0, 2]])}
    res = compare_outputs(ref, tie)
    assert all(o.passed for o in res) and "ties" in res[1].problem
    wrong = {"values": np.array([[5.0, 4.0, 1.0]], np.float32), "indices": np.array([[1, 0, 2]])}
    assert not all(o.passed for o in compare_outputs(ref, wrong))
    alone = compare_outputs({"indices": ref["indices"]}, {"indices": tie["indices"]})
    assert not alone[0].passed


def test_argmax_ties_are_judged_on_the_data_they_select(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from bridge.verify.ties import excuse_argmax_ties

    node = helper.make_node("ArgMax", ["x"], ["idx"], axis=1, keepdims=0)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("idx", TensorProto.INT64, [2])])
    path = tmp_path / "argmax.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]), path)
    feeds = {"x": np.array([[1.0, 7.0, 7.0], [3.0, 2.0, 1.0]], np.float32)}
    ref = {"idx": np.array([1, 0])}
    tie = {"idx": np.array([2, 0])}  # the other 7.0
    res = compare_outputs(ref, tie)
    excuse_argmax_ties(res, ref, tie, path, feeds)
    assert res[0].passed and "ties" in res[0].problem
    wrong = {"idx": np.array([0, 0])}  # 1.0 is not a maximum
    res = compare_outputs(ref, wrong)
    excuse_argmax_ties(res, ref, wrong, path, feeds)
    assert not res[0].passed


def test_a_failure_names_its_unmatched_nonfinite_values_or_its_problem():
    ref = np.array([1.0, 2.0, 3.0])
    assert compare_output("y", ref, np.array([np.inf, np.nan, 3.0]), 1e-4, 1e-3).reason == \
        "2 NaN/inf not matched by the other side"
    assert compare_output("y", ref, ref[:2], 1e-4, 1e-3).reason == "shape [2] != reference [3]"
    assert compare_output("y", ref, ref + 1.0, 1e-4, 1e-3).reason == ""  # the numbers say why
