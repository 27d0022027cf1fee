import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import check_node

rng = np.random.default_rng(0)
X = rng.standard_normal((3, 5, 2, 2)).astype(np.float32)
LABELS = rng.integers(0, 5, size=(3, 2, 2)).astype(np.int64)
LABELS_II = LABELS.copy()
LABELS_II[0, 0, 0] = -1  # an ignored label outside [0, C)
WEIGHT = rng.random(5).astype(np.float32)


def _loss_case(reduction, weighted, ignore):
    attrs = {"reduction": reduction}
    if ignore is not None:
        attrs["ignore_index"] = ignore
    inputs = {"x": X, "t": LABELS_II if ignore == -1 else LABELS}
    if weighted:
        inputs["w"] = WEIGHT
    return inputs, attrs


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [None, -1, 2])
def test_nll_loss(reduction, weighted, ignore):
    inputs, attrs = _loss_case(reduction, weighted, ignore)
    # onnx's reference treats ignore_index=-1 as "none" when unweighted; ONNX Runtime follows the spec.
    runtime = "onnxruntime" if ignore == -1 and not weighted else "reference"
    check_node("NegativeLogLikelihoodLoss", inputs, attrs, opset=22, runtime=runtime)


def test_nll_loss_2d_input():
    check_node("NegativeLogLikelihoodLoss", {"x": X[:, :, 0, 0], "t": LABELS[:, 0, 0]}, {"reduction": "none"},
               opset=13)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [None, -1])
def test_softmax_cross_entropy_loss(reduction, weighted, ignore):
    inputs, attrs = _loss_case(reduction, weighted, ignore)
    check_node("SoftmaxCrossEntropyLoss", inputs, attrs, opset=13, n_outputs=2)


def test_softmax_cross_entropy_loss_one_output_int32_labels():
    check_node("SoftmaxCrossEntropyLoss", {"x": X[:, :, 0, 0], "t": LABELS[:, 0, 0].astype(np.int32)},
               {"reduction": "mean"}, opset=12)
