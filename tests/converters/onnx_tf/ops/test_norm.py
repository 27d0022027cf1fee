import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import check_node, make_node_model, run_reference, run_tf

rng = np.random.default_rng(0)


def _rand(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def test_batch_norm_inference():
    x = _rand(2, 3, 4, 5)
    params = {"s": _rand(3), "b": _rand(3), "m": _rand(3), "v": rng.random(3).astype(np.float32) + 0.5}
    check_node("BatchNormalization", {"x": x}, {"epsilon": 1e-3}, initializers=params)
    # the reference evaluator runs opset 9 in training mode; ONNX Runtime, like us, converts inference
    check_node("BatchNormalization", {"x": x}, {}, initializers=params, opset=9, runtime="onnxruntime")


def test_batch_norm_training():
    x = _rand(2, 3, 4)
    params = {"s": _rand(3), "b": _rand(3), "m": _rand(3), "v": rng.random(3).astype(np.float32) + 0.5}
    check_node("BatchNormalization", {"x": x}, {"training_mode": 1, "momentum": 0.8}, initializers=params,
               n_outputs=3, opset=15)


def test_instance_norm():
    check_node("InstanceNormalization", {"x": _rand(2, 3, 4, 5)}, {"epsilon": 1e-3},
               initializers={"s": _rand(3), "b": _rand(3)}, atol=1e-5)


@pytest.mark.parametrize("opset,param_len", [(18, 2), (21, 4)])
def test_group_norm(opset, param_len):
    check_node("GroupNormalization", {"x": _rand(2, 4, 3, 3)}, {"num_groups": 2, "epsilon": 1e-3},
               initializers={"s": _rand(param_len), "b": _rand(param_len)}, opset=opset, atol=1e-5)


@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_layer_norm(axis):
    x = _rand(2, 3, 4)
    shape = x.shape[axis:] if axis >= 0 else x.shape[axis:]
    check_node("LayerNormalization", {"x": x}, {"axis": axis, "epsilon": 1e-3},
               initializers={"s": _rand(*shape), "b": _rand(*shape)}, n_outputs=3, opset=17, atol=1e-5)


def test_layer_norm_float16_stash():
    x = _rand(2, 8, dtype=np.float16)
    check_node("LayerNormalization", {"x": x}, {}, initializers={"s": _rand(8, dtype=np.float16)}, opset=17,
               atol=2e-3, rtol=2e-3, runtime="onnxruntime")


def test_rms_norm():
    check_node("RMSNormalization", {"x": _rand(2, 3, 4)}, {"axis": 1, "epsilon": 1e-3},
               initializers={"s": _rand(3, 4)}, opset=23, atol=1e-5)


@pytest.mark.parametrize("size", [3, 4])
def test_lrn(size):
    # the reference evaluator loops over the batch axis instead of channels, so batch == channels here
    check_node("LRN", {"x": _rand(4, 4, 2, 2)}, {"size": size, "alpha": 0.01, "beta": 0.6, "bias": 2.0})


@pytest.mark.parametrize("p", [1, 2])
def test_lp_norm(p):
    x = _rand(2, 3, 4)
    x[0, :, 1] = 0  # a zero norm gives zeros, not NaN
    check_node("LpNormalization", {"x": x}, {"axis": 1, "p": p}, runtime="onnxruntime")


def test_mean_variance_norm():
    check_node("MeanVarianceNormalization", {"x": _rand(2, 3, 4, 5)}, {"axes": [0, 2]}, atol=1e-5)


def test_group_norm_over_unknown_sizes():
    x = _rand(2, 4, 3, 5)
    model = make_node_model("GroupNormalization", {"x": x}, {"num_groups": 2, "epsilon": 1e-3}, opset=21,
                            initializers={"s": _rand(4), "b": _rand(4)})
    for dim in list(model.graph.input[0].type.tensor_type.shape.dim)[2:]:
        dim.dim_param = "s"
    np.testing.assert_allclose(run_tf(model, {"x": x})[0], run_reference(model, {"x": x})[0], rtol=1e-5, atol=1e-5)
