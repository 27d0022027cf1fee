import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import check_node

rng = np.random.default_rng(0)
X = rng.standard_normal((1, 3, 9, 9)).astype(np.float32)


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [3, 3]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
    {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1},
    {"kernel_shape": [3, 3], "dilations": [2, 2]},
    {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]},
])
def test_max_pool(attrs):
    check_node("MaxPool", {"x": X}, attrs)


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]},
    {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1},
    {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1},
])
def test_average_pool(attrs):
    check_node("AveragePool", {"x": X}, attrs)


def test_global_pools():
    check_node("GlobalAveragePool", {"x": X})
    check_node("GlobalMaxPool", {"x": X})
