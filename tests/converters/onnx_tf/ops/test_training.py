import numpy as np
import pytest
from onnx import helper

from tests.converters.onnx_tf.ops.node_check import run_reference, run_tf

rng = np.random.default_rng(0)
DOMAIN = "ai.onnx.preview.training"


def check(op, n_state, n_tensors, t, attrs):
    """Optimizer node over ``n_tensors`` tensors against onnx's reference evaluator."""
    inputs = {"r": np.array(0.1, np.float32), "t": np.array(t, np.int64)}
    groups = ["x", "g"] + [f"s{k}" for k in range(n_state)]
    for name in groups:
        for i in range(n_tensors):
            shape = (3,) if i == 0 else (2, 2)
            value = rng.standard_normal(shape).astype(np.float32)
            inputs[f"{name}{i}"] = np.abs(value) if name.startswith("s") else value
    outputs = [f"{n}{i}_new" for n in ["x"] + groups[2:] for i in range(n_tensors)]
    node = helper.make_node(op, list(inputs), outputs, domain=DOMAIN, **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype),
                                                                         v.shape) for k, v in inputs.items()],
                              [helper.make_tensor_value_info(o, 1, None) for o in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(DOMAIN, 1)])
    got, want = run_tf(model, inputs), run_reference(model, inputs)
    for g, w in zip(got, want):
        assert g.dtype == np.float32 and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("t", [0, 3])
@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("mode", ["standard", "nesterov"])
def test_momentum(t, n, mode):
    check("Momentum", 1, n, t, {"alpha": 0.9, "beta": 0.5, "norm_coefficient": 0.01, "mode": mode})


@pytest.mark.parametrize("t", [0, 5])
@pytest.mark.parametrize("n", [1, 2])
def test_adagrad(t, n):
    check("Adagrad", 1, n, t, {"decay_factor": 0.1, "epsilon": 1e-5, "norm_coefficient": 0.001})


@pytest.mark.parametrize("t", [0, 4])
@pytest.mark.parametrize("n", [1, 2])
def test_adam(t, n):
    check("Adam", 2, n, t, {"alpha": 0.8, "beta": 0.9, "epsilon": 1e-4, "norm_coefficient": 0.01,
                            "norm_coefficient_post": 0.02})


def test_adam_defaults():
    check("Adam", 2, 1, 2, {})
