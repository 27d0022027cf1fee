"""Detection outputs judged as sets of boxes: order does not matter, a missing or moved box does, a box at
the confidence threshold or a keep_top_k tie is borderline, NMS index rows match as sets."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from bridge.verify.compare import Tolerances, compare_outputs
from bridge.verify.detections import detection_outputs, judge_detections, match_boxes, match_index_rows

ROWS = np.array([
    [0, 1, 0.9, 0.1, 0.1, 0.4, 0.4],
    [0, 1, 0.8, 0.5, 0.5, 0.9, 0.9],
    [0, 2, 0.7, 0.1, 0.1, 0.4, 0.4],
    [1, 1, 0.6, 0.2, 0.2, 0.3, 0.3],
], np.float32)[None, None]
INFO = {"layout": "caffe_ssd", "confidence_threshold": 0.3, "keep_top_k": -1}


def test_same_boxes_in_another_order_pass():
    shuffled = ROWS[:, :, [2, 0, 3, 1]].copy()
    shuffled[..., 2:] += 1e-6  # scores and corners, not image or label
    verdict = match_boxes(ROWS, shuffled, 1e-4, 0.0, INFO)
    assert verdict["passed"] and verdict["matched"] == 4 and verdict["missing"] == verdict["extra"] == 0
    assert 0 < verdict["max_box_error"] <= 2e-6 and verdict["min_iou"] > 0.99


def test_a_missing_box_a_wrong_label_and_a_moved_box_fail():
    verdict = match_boxes(ROWS, ROWS[:, :, :3], 1e-4, 0.0, INFO)
    assert not verdict["passed"] and verdict["missing"] == 1 and verdict["matched"] == 3
    relabelled = ROWS.copy()
    relabelled[0, 0, 1, 1] = 2
    verdict = match_boxes(ROWS, relabelled, 1e-4, 0.0, INFO)
    assert not verdict["passed"] and verdict["missing"] == 1 and verdict["extra"] == 1
    moved = ROWS.copy()
    moved[0, 0, 0, 3:] += 0.01  # still the same box (IoU ~0.94), corners off by 1e-2
    verdict = match_boxes(ROWS, moved, 1e-4, 0.0, INFO)
    assert not verdict["passed"] and verdict["matched"] == 4 and verdict["out_of_tolerance"] == 1
    assert abs(verdict["max_box_error"] - 0.01) < 1e-6


def test_boxes_at_the_threshold_or_a_top_k_tie_are_borderline():
    at_threshold = np.concatenate([ROWS, np.array([[[[0, 1, 0.30001, 0, 0, 1, 1]]]], np.float32)], axis=2)
    verdict = match_boxes(at_threshold, ROWS, 1e-4, 0.0, INFO)
    assert verdict["passed"] and verdict["borderline"] == 1 and verdict["missing"] == 0
    reference = ROWS[:, :, :3]
    tie = reference.copy()
    tie[0, 0, 2] = [0, 2, 0.7, 0.6, 0.0, 0.8, 0.2]  # another box of the weakest score kept under keep_top_k
    assert not match_boxes(reference, tie, 1e-4, 0.0, INFO)["passed"]
    verdict = match_boxes(reference, tie, 1e-4, 0.0, {**INFO, "keep_top_k": 3})
    assert verdict["passed"] and verdict["borderline"] == 2 and verdict["matched"] == 2


def test_caffe_no_detection_rows_are_ignored():
    empty = np.full((1, 1, 1, 7), -1, np.float32)
    empty[0, 0, 0, 0] = 0
    assert match_boxes(empty, np.zeros((1, 1, 0, 7), np.float32), 1e-4, 0.0, INFO)["passed"]


def test_nms_index_rows_match_as_sets():
    a = np.array([[0, 0, 3], [0, 1, 2], [0, 0, 1]], np.int64)
    assert match_index_rows(a, a[::-1])["passed"]
    verdict = match_index_rows(a, a[:2])
    assert not verdict["passed"] and verdict["missing"] == 1


def test_judge_sets_rule_and_verdict_where_elementwise_fails():
    reference, candidate = {"det": ROWS}, {"det": ROWS[:, :, ::-1]}
    results = compare_outputs(reference, candidate, Tolerances())
    assert not results[0].passed and results[0].rule == "fixed"
    judge_detections(results, reference, candidate, {"det": INFO})
    (res,) = results
    assert res.passed and res.rule == "detections" and res.detections["matched"] == 4
    assert res.to_json()["rule"] == "detections" and res.to_json()["detections"]["reference"] == 4


def test_detection_outputs_reads_metadata_and_nms_producers(tmp_path):
    boxes = helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 4, 4])
    scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, 4])
    out = helper.make_tensor_value_info("selected", TensorProto.INT64, [None, 3])
    graph = helper.make_graph([helper.make_node("NonMaxSuppression", ["boxes", "scores"], ["selected"])],
                              "g", [boxes, scores], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    helper.set_model_props(model, {"bridge.detections": '{"det": {"layout": "caffe_ssd"}}'})
    onnx.save(model, tmp_path / "m.onnx")
    assert detection_outputs(tmp_path / "m.onnx") == {"det": {"layout": "caffe_ssd"}, "selected": {"layout": "nms_indices"}}
    assert detection_outputs(None) == {} and detection_outputs(tmp_path / "absent.onnx") == {}


def _end2end(scores, boxes, classes):
    """Ultralytics' end-to-end rows [1, k, (x1, y1, x2, y2, score, class)], best first."""
    return np.concatenate([np.asarray(boxes, np.float32), np.asarray(scores, np.float32)[:, None],
                           np.asarray(classes, np.float32)[:, None]], axis=1)[None]


def test_an_ultralytics_end_to_end_detector_is_judged_as_boxes(tmp_path):
    """YOLO26 keeps the top 300 of many near-equal scores on a noise input: the boxes at the cut differ
    between runtimes, and a kept box at the cut may even pair with a neighbour the other side kept."""
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["output0"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 3, 6])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    helper.set_model_props(model, {"end2end": "True", "task": "detect", "imgsz": "[640, 640]"})
    onnx.save(model, tmp_path / "m.onnx")
    specs = detection_outputs(tmp_path / "m.onnx")
    assert specs == {"output0": {"layout": "xyxy_score_class"}}
    boxes = [[10, 10, 110, 110], [300, 300, 400, 420], [305, 300, 405, 420]]
    reference = _end2end([0.9, 2e-7, 1e-7], boxes, [1, 0, 0])
    # the weakest two tie within tolerance: the candidate keeps the third box's twin instead of the second
    candidate = _end2end([0.9, 1e-7, 1e-7], [boxes[0], boxes[2], [500, 500, 600, 600]], [1, 0, 0])
    results = compare_outputs({"output0": reference}, {"output0": candidate}, Tolerances())
    judge_detections(results, {"output0": reference}, {"output0": candidate}, specs)
    (res,) = results
    assert res.passed and res.detections["borderline"] == 3 and res.max_abs < 1e-4, res.detections
    # a confident box that moved fails
    moved = candidate.copy()
    moved[0, 0, :4] += 5
    results = compare_outputs({"output0": reference}, {"output0": moved}, Tolerances())
    judge_detections(results, {"output0": reference}, {"output0": moved}, specs)
    assert not results[0].passed and "1 out of tolerance" in results[0].problem
