"""permute's forms: which op a transpose becomes in TF's forms and in TFLite's, and that each is exact."""

import numpy as np
import pytest

from bridge_converters.onnx_tf.ops._common import permute, traced_forms


def _traced(x, order, tflite):
    import tensorflow as tf

    with traced_forms(tflite=tflite) as forms:
        fn = tf.function(lambda t: permute(t, order), autograph=False).get_concrete_function(
            tf.TensorSpec(x.shape, tf.as_dtype(x.dtype)))
    ops = {op.type for op in fn.graph.get_operations()} - {"Placeholder", "Identity", "NoOp", "Const"}
    return fn(x).numpy(), ops, forms.tf_only


@pytest.mark.parametrize("shape,order", [((2, 3, 8, 8), [0, 2, 3, 1]), ((2, 8, 8, 3), [0, 3, 1, 2]),
                                         ((1, 4, 16), [0, 2, 1])])
def test_a_small_image_tensors_channel_move_is_unpack_and_pack_in_tf_forms_and_one_einsum_in_tflite_forms(shape, order):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    got, ops, tf_only = _traced(x, order, tflite=False)
    np.testing.assert_array_equal(got, np.transpose(x, order))
    assert ops == {"Unpack", "Pack"} and tf_only == 1
    got, ops, tf_only = _traced(x, order, tflite=True)
    np.testing.assert_array_equal(got, np.transpose(x, order))
    assert ops == {"Einsum"} and tf_only == 0


@pytest.mark.parametrize("shape,order,op", [
    ((1, 3, 64, 64), [0, 2, 3, 1], "Einsum"),  # 12,288 elements: the copy outweighs the pool wake-up
    ((2, 8, 4, 4), [0, 2, 3, 1], "Einsum"),  # 8 channels: not a short axis
    ((2, 4, 3, 5), [0, 2, 1, 3], "Einsum"),  # an inner axis (attention heads), not the channel boundary
    ((2, 3, 8, 8), [0, 2, 3, 1], "Transpose"),  # int32 (below): never Unpack + Pack
])
def test_other_transposes_keep_one_op_in_both_forms(shape, order, op):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    if op == "Transpose":
        x = (x * 100).astype(np.int32)
    for tflite in (False, True):
        got, ops, tf_only = _traced(x, order, tflite)
        np.testing.assert_array_equal(got, np.transpose(x, order))
        assert ops == {op} and tf_only == 0
