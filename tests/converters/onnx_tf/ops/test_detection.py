import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import check_node, make_node_model, run_reference, run_tf

rng = np.random.default_rng(0)


def _corner_boxes(batch: int, n: int) -> np.ndarray:
    # Coarse coordinates so boxes overlap, touch and repeat; corners in either order.
    return rng.integers(0, 6, (batch, n, 4)).astype(np.float32) / 2


def _nms_inputs(boxes: np.ndarray, classes: int, max_out: int, iou: float, score: float | None,
                tie_scores: bool = False) -> dict[str, np.ndarray]:
    batch, n = boxes.shape[:2]
    scores = rng.integers(0, 4, (batch, classes, n)) / 4 if tie_scores else rng.random((batch, classes, n))
    inputs = {"boxes": boxes, "scores": scores.astype(np.float32), "max_out": np.array([max_out], np.int64),
              "iou": np.array([iou], np.float32)}
    if score is not None:
        inputs["score"] = np.array([score], np.float32)
    return inputs


@pytest.mark.parametrize("max_out,iou,score", [(3, 0.3, None), (10, 0.0, 0.2), (2, 0.5, 0.5), (0, 0.5, None),
                                               (10, 1.0, None)])
@pytest.mark.parametrize("ties", [False, True])
def test_nms_corners(max_out, iou, score, ties):
    inputs = _nms_inputs(_corner_boxes(2, 12), 3, max_out, iou, score, tie_scores=ties)
    check_node("NonMaxSuppression", inputs, opset=11)


@pytest.mark.parametrize("iou", [0.0, 0.25, 0.6])
def test_nms_center_point_box(iou):
    boxes = rng.integers(0, 5, (1, 10, 4)).astype(np.float32) / 2  # zero widths and heights included
    check_node("NonMaxSuppression", _nms_inputs(boxes, 2, 5, iou, 0.1), {"center_point_box": 1}, opset=11)


def test_nms_defaults_without_optional_inputs():
    # No max_output_boxes_per_class means 0: nothing is selected (onnx's reference cannot run this one).
    boxes = _corner_boxes(1, 4)
    scores = rng.random((1, 1, 4)).astype(np.float32)
    check_node("NonMaxSuppression", {"boxes": boxes, "scores": scores}, opset=10, runtime="onnxruntime")


def test_nms_threshold_equal_to_iou_keeps_box():
    # IoU exactly at the threshold does not suppress (strictly greater does).
    boxes = np.array([[[0, 0, 1, 1], [0, 0.5, 1, 1.5]]], np.float32)  # IoU 1/3
    scores = np.array([[[0.9, 0.8]]], np.float32)
    inputs = {"boxes": boxes, "scores": scores, "max_out": np.array([5], np.int64),
              "iou": np.array([1 / 3], np.float32)}
    check_node("NonMaxSuppression", inputs, opset=11)


def test_nms_over_unknown_sizes():
    inputs = _nms_inputs(_corner_boxes(2, 9), 2, 4, 0.2, 0.3)
    model = make_node_model("NonMaxSuppression", inputs, opset=11)
    for i in range(2):
        for j, dim in enumerate(model.graph.input[i].type.tensor_type.shape.dim):
            dim.dim_param = f"d{i}{j}"
    np.testing.assert_array_equal(run_tf(model, inputs)[0], run_reference(model, inputs)[0])


@pytest.mark.parametrize("image,block,attrs", [
    ([5, 5], [1, 5], {}),
    ([5, 5], [2, 2], {"strides": [2, 2]}),
    ([5, 5], [1, 5], {"pads": [0, 1, 0, 1]}),
    ([6, 6], [2, 2], {"dilations": [1, 5]}),
    ([7, 6], [3, 2], {"strides": [2, 1], "pads": [1, 0, 2, 1], "dilations": [2, 1]}),
    ([3, 4, 5], [2, 1, 2], {}),
    ([9], [3], {"strides": [2], "pads": [1, 1]}),
])
def test_col2im(image, block, attrs):
    image, block = np.array(image, np.int64), np.array(block, np.int64)
    k = len(image)
    strides = attrs.get("strides", [1] * k)
    dilations = attrs.get("dilations", [1] * k)
    pads = attrs.get("pads", [0] * 2 * k)
    blocks = [(image[i] + pads[i] + pads[i + k] - dilations[i] * (block[i] - 1) - 1) // strides[i] + 1
              for i in range(k)]
    x = rng.standard_normal((2, 3 * int(np.prod(block)), int(np.prod(blocks)))).astype(np.float32)
    check_node("Col2Im", {"x": x, "image": image, "block": block}, attrs, opset=18)
