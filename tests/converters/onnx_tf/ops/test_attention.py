import ml_dtypes
import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import check_node, make_node_model, run_reference, run_tf

rng = np.random.default_rng(0)


def _r(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


Q4, K4, V4 = _r(2, 4, 3, 8), _r(2, 2, 5, 8), _r(2, 2, 5, 6)  # GQA: 4 query heads over 2 KV heads
Q3, K3, V3 = _r(2, 3, 32), _r(2, 5, 16), _r(2, 5, 12)


@pytest.mark.parametrize("attrs", [
    {},
    {"is_causal": 1},
    {"scale": 0.3},
    {"qk_matmul_output_mode": 1, "softcap": 2.0},
    {"qk_matmul_output_mode": 2, "is_causal": 1},
    {"qk_matmul_output_mode": 3},
    {"softmax_precision": 11},
])
def test_attention_4d(attrs):
    check_node("Attention", {"q": Q4, "k": K4, "v": V4}, attrs, opset=23, n_outputs=4,
               input_names=["q", "k", "v", "", "", ""], initializers={}, atol=1e-5)


def test_attention_softcap():
    # Output 3 is left out: in mode 0 the spec gives the raw QK product; onnx's reference returns it softcapped.
    check_node("Attention", {"q": Q4, "k": K4, "v": V4}, {"softcap": 2.0}, opset=23, atol=1e-5)


def test_attention_3d_heads_and_causal():
    check_node("Attention", {"q": Q3, "k": K3, "v": V3}, {"q_num_heads": 4, "kv_num_heads": 2, "is_causal": 1},
               opset=23, atol=1e-5)


@pytest.mark.parametrize("mask", [
    rng.random((3, 5)) > 0.3,                      # bool, 2D
    (rng.random((2, 1, 3, 4)) > 0.3),              # bool, 4D, shorter than the keys (padded as masked)
    _r(4, 3, 5),                                   # float, 3D (heads, q, kv)
    np.where(rng.random((3, 5)) > 0.5, 0, -np.inf).astype(np.float32),
])
@pytest.mark.parametrize("causal", [0, 1])
def test_attention_masks(mask, causal):
    check_node("Attention", {"q": Q4, "k": K4, "v": V4, "m": mask}, {"is_causal": causal, "qk_matmul_output_mode": 2},
               opset=23, n_outputs=4, input_names=["q", "k", "v", "m"], atol=1e-5)


def test_attention_fully_masked_rows_are_zero():
    mask = np.ones((3, 5), bool)
    mask[1] = False
    check_node("Attention", {"q": Q4, "k": K4, "v": V4, "m": mask}, {"qk_matmul_output_mode": 3}, opset=23,
               n_outputs=4, input_names=["q", "k", "v", "m"], atol=1e-5)


@pytest.mark.parametrize("causal", [0, 1])
def test_attention_past_and_present(causal):
    inputs = {"q": Q4, "k": K4, "v": V4, "m": _r(3, 7), "pk": _r(2, 2, 2, 8), "pv": _r(2, 2, 2, 6)}
    check_node("Attention", inputs, {"is_causal": causal}, opset=23, n_outputs=4, atol=1e-5)


def test_attention_3d_past_and_present():
    inputs = {"q": Q3, "k": K3, "v": V3, "m": _r(3, 9), "pk": _r(2, 2, 4, 8), "pv": _r(2, 2, 4, 6)}
    check_node("Attention", inputs, {"q_num_heads": 4, "kv_num_heads": 2}, opset=23, n_outputs=3, atol=1e-5)


@pytest.mark.parametrize("causal", [0, 1])
def test_attention_nonpad_kv_seqlen(causal):
    inputs = {"q": Q4, "k": K4, "v": V4, "n": np.array([5, 3], np.int64)}
    check_node("Attention", inputs, {"is_causal": causal}, opset=24, input_names=["q", "k", "v", "", "", "", "n"],
               atol=1e-5)


@pytest.mark.parametrize("window", [(1, 0), (2, 1), (-1, 0)])
def test_attention_sliding_window(window):
    attrs = {"left_window_size": window[0], "right_window_size": window[1]}
    check_node("Attention", {"q": Q4, "k": K4, "v": V4}, attrs, opset=25, atol=1e-5)
    inputs = {"q": Q4, "k": K4, "v": V4, "pk": _r(2, 2, 2, 8), "pv": _r(2, 2, 2, 6)}
    check_node("Attention", inputs, {**attrs, "is_causal": 1}, opset=25, n_outputs=3,
               input_names=["q", "k", "v", "", "pk", "pv"], atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16])
def test_attention_low_precision(dtype):
    # Softmax sums accumulate in float32 here; the reference accumulates bfloat16 in bfloat16, so allow an ulp.
    inputs = {name: np.abs(t).astype(dtype) for name, t in zip("qkv", (Q4, K4, V4))}
    model = make_node_model("Attention", inputs, {"is_causal": 1}, opset=23)
    got, want = run_tf(model, inputs)[0], run_reference(model, inputs)[0]
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=2e-2, atol=1e-2)


def test_attention_dynamic_shapes():
    model = make_node_model("Attention", {"q": Q3, "k": K3, "v": V3}, {"q_num_heads": 4, "kv_num_heads": 2,
                                                                        "is_causal": 1}, opset=23)
    for value in model.graph.input:  # batch and sequence lengths unknown while tracing
        for d in value.type.tensor_type.shape.dim[:2]:
            d.dim_param = "n"
    inputs = {"q": Q3, "k": K3, "v": V3}
    np.testing.assert_allclose(run_tf(model, inputs)[0], run_reference(model, inputs)[0], rtol=1e-5, atol=1e-5)


X4 = _r(2, 3, 4, 8)   # [B, heads, S, D]
X3 = _r(2, 4, 24)     # [B, S, heads*D] with 3 heads
POS = rng.integers(0, 10, size=(2, 4)).astype(np.int64)


@pytest.mark.parametrize("interleaved", [0, 1])
@pytest.mark.parametrize("rot_dim", [0, 4])
def test_rotary_embedding(interleaved, rot_dim):
    half = (rot_dim or 8) // 2
    attrs = {"interleaved": interleaved, "rotary_embedding_dim": rot_dim}
    cos, sin = _r(10, half), _r(10, half)
    check_node("RotaryEmbedding", {"x": X4, "cos": cos, "sin": sin, "pos": POS}, attrs, opset=23)
    check_node("RotaryEmbedding", {"x": X3, "cos": _r(2, 4, half), "sin": _r(2, 4, half)},
               {**attrs, "num_heads": 3}, opset=23)


LQ, LK, LV = _r(2, 5, 4 * 3), _r(2, 5, 2 * 3), _r(2, 5, 2 * 4)  # 4 query heads, 2 KV heads, d_k 3, d_v 4


@pytest.mark.parametrize("rule, decay, beta", [
    ("linear", None, None),
    ("gated", (2, 5, 2), None),            # one decay per KV head
    ("delta", None, (2, 5, 1)),            # one beta for all heads
    ("gated_delta", (2, 5, 6), (2, 5, 2)),  # decay per key dimension, beta per KV head
])
@pytest.mark.parametrize("with_past", [False, True])
def test_linear_attention(rule, decay, beta, with_past):
    inputs = {"q": LQ, "k": LK * 0.5, "v": LV}
    names = ["q", "k", "v", "", "", ""]
    if with_past:
        inputs["s"], names[3] = _r(2, 2, 3, 4), "s"
    if decay:
        inputs["g"], names[4] = -np.abs(_r(*decay)), "g"
    if beta:
        inputs["b"], names[5] = 1 / (1 + np.exp(-_r(*beta))), "b"
    while names[-1] == "":
        names.pop()
    attrs = {"q_num_heads": 4, "kv_num_heads": 2, "update_rule": rule}
    check_node("LinearAttention", inputs, attrs, opset=27, n_outputs=2, input_names=names, atol=1e-5)


@pytest.mark.parametrize("activation", ["none", "silu"])
@pytest.mark.parametrize("k", [1, 3])
def test_causal_conv_with_state(activation, k):
    x, w = _r(2, 4, 6), _r(4, 1, k)
    check_node("CausalConvWithState", {"x": x, "w": w}, {"activation": activation}, opset=27, n_outputs=2)
    inputs = {"x": x, "w": w, "b": _r(4), "s": _r(2, 4, k - 1)}
    check_node("CausalConvWithState", inputs, {"activation": activation}, opset=27, n_outputs=2, atol=1e-5)


def _flex_model(inputs, attrs):
    from onnx import helper

    node = helper.make_node("FlexAttention", list(inputs), ["y"], domain="ai.onnx.preview", **attrs)
    graph = helper.make_graph(
        [node], "flex", [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
                         for n, a in inputs.items()],
        [helper.make_tensor_value_info("y", helper.np_dtype_to_tensor_dtype(inputs["q"].dtype), None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23),
                                                   helper.make_opsetid("ai.onnx.preview", 1)])


def _mod_graph(op, constant):
    from onnx import TensorProto, helper

    return helper.make_graph([helper.make_node(op, ["s", "c"], ["o"])], "mod",
                             [helper.make_tensor_value_info("s", TensorProto.FLOAT, None)],
                             [helper.make_tensor_value_info("o", TensorProto.FLOAT, None)],
                             [helper.make_tensor("c", TensorProto.FLOAT, [], [constant])])


@pytest.mark.parametrize("attrs", [{}, {"scale": 0.2}, {"score_mod": "Add", "prob_mod": "Mul"}])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_flex_attention(attrs, dtype):
    attrs = dict(attrs)
    if "score_mod" in attrs:
        attrs["score_mod"] = _mod_graph("Add", 0.5)
        attrs["prob_mod"] = _mod_graph("Mul", 2.0)
    inputs = {"q": Q4.astype(dtype), "k": K4.astype(dtype), "v": V4.astype(dtype)}
    model = _flex_model(inputs, attrs)
    got, want = run_tf(model, inputs)[0], run_reference(model, inputs)[0]
    assert got.dtype == want.dtype
    tol = 1e-5 if dtype == np.float32 else 2e-3
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
