import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import check_node, make_node_model, run_reference, run_tf, tf_op_types

rng = np.random.default_rng(0)
T, B, I, H = 4, 3, 5, 6
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
N_OUT = {"RNN": 2, "GRU": 2, "LSTM": 3}
LENS = np.array([4, 2, 3], np.int32)


def _r(*shape):
    return (rng.standard_normal(shape) * 0.5).astype(np.float32)


def _inputs(op, dirs, seq_lens=False, states=False, peepholes=False, layout=0):
    g = GATES[op]
    x = _r(B, T, I) if layout else _r(T, B, I)
    inputs = {"x": x, "w": _r(dirs, g * H, I), "r": _r(dirs, g * H, H), "b": _r(dirs, 2 * g * H)}
    names = ["x", "w", "r", "b", "", "", "", ""]
    if seq_lens:
        inputs["lens"], names[4] = LENS, "lens"
    if states:
        shape = (B, dirs, H) if layout else (dirs, B, H)
        inputs["h0"], names[5] = _r(*shape), "h0"
        if op == "LSTM":
            inputs["c0"], names[6] = _r(*shape), "c0"
    if peepholes:
        inputs["p"], names[7] = _r(dirs, 3 * H), "p"
    while names[-1] == "":
        names.pop()
    return inputs, names


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_directions_with_sequence_lens_and_states(op, direction):
    dirs = 2 if direction == "bidirectional" else 1
    inputs, names = _inputs(op, dirs, seq_lens=True, states=True)
    check_node(op, inputs, {"hidden_size": H, "direction": direction}, opset=14, n_outputs=N_OUT[op],
               input_names=names, runtime="onnxruntime", atol=1e-5)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("layout", [0, 1])
def test_defaults_and_layout(op, layout):
    inputs, names = _inputs(op, 2, states=True, layout=layout)
    check_node(op, inputs, {"hidden_size": H, "direction": "bidirectional", "layout": layout}, opset=14,
               n_outputs=N_OUT[op], input_names=names, atol=1e-5)


@pytest.mark.parametrize("linear_before_reset", [0, 1])
def test_gru_linear_before_reset_and_clip(linear_before_reset):
    inputs, names = _inputs("GRU", 1, seq_lens=True)
    attrs = {"hidden_size": H, "linear_before_reset": linear_before_reset, "clip": 0.4}
    check_node("GRU", inputs, attrs, opset=14, n_outputs=2, input_names=names, runtime="onnxruntime", atol=1e-5)


@pytest.mark.parametrize("input_forget", [0, 1])
def test_lstm_peepholes_input_forget_clip(input_forget):
    inputs, names = _inputs("LSTM", 2, seq_lens=True, states=True, peepholes=True)
    attrs = {"hidden_size": H, "direction": "bidirectional", "input_forget": input_forget, "clip": 0.5}
    check_node("LSTM", inputs, attrs, opset=14, n_outputs=3, input_names=names, runtime="onnxruntime", atol=1e-5)


@pytest.mark.parametrize("op, acts, alpha, beta", [
    ("RNN", ["Relu", "LeakyRelu"], [0.2], []),
    ("GRU", ["HardSigmoid", "ScaledTanh", "Sigmoid", "ThresholdedRelu"], [0.3, 0.9, 0.1], [0.4, 1.1]),
    ("LSTM", ["Sigmoid", "Softsign", "Affine", "HardSigmoid", "Elu", "Tanh"], [0.7, 0.25, 0.9], [0.1, 0.55]),
])
def test_custom_activations(op, acts, alpha, beta):
    inputs, names = _inputs(op, 2, states=True)
    attrs = {"hidden_size": H, "direction": "bidirectional", "activations": acts}
    if alpha:
        attrs["activation_alpha"] = alpha
    if beta:
        attrs["activation_beta"] = beta
    check_node(op, inputs, attrs, opset=14, n_outputs=N_OUT[op], input_names=names, runtime="onnxruntime",
               atol=1e-5)


def test_only_y_output_and_default_bias():
    inputs = {"x": _r(T, B, I), "w": _r(1, 4 * H, I), "r": _r(1, 4 * H, H)}
    check_node("LSTM", inputs, {"hidden_size": H}, opset=7, atol=1e-5)


@pytest.mark.parametrize("op", ["GRU", "LSTM"])
def test_dynamic_time_and_batch(op):
    inputs, names = _inputs(op, 2, seq_lens=True, states=True)
    model = make_node_model(op, inputs, {"hidden_size": H, "direction": "bidirectional"}, n_outputs=N_OUT[op],
                            opset=14, input_names=names)
    for value in model.graph.input:
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if (value.name == "x" and axis < 2) or (value.name != "x" and value.name not in "wrb" and axis == 1) \
                    or value.name == "lens":
                dim.dim_param = "n"
    got = run_tf(model, inputs)
    want = run_reference(model, inputs, "onnxruntime")
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_layout_1_with_sequence_lens(op):
    # ONNX Runtime has no batch-major kernels: run layout=1 here against ORT at layout=0 on transposed data.
    inputs, names = _inputs(op, 2, seq_lens=True, states=True, layout=1)
    attrs = {"hidden_size": H, "direction": "bidirectional"}
    model = make_node_model(op, inputs, {**attrs, "layout": 1}, n_outputs=N_OUT[op], opset=14, input_names=names)
    got = run_tf(model, inputs)
    time_major = {n: (np.swapaxes(a, 0, 1) if n in ("x", "h0", "c0") else a) for n, a in inputs.items()}
    ref_model = make_node_model(op, time_major, attrs, n_outputs=N_OUT[op], opset=14, input_names=names)
    want = run_reference(ref_model, time_major, "onnxruntime")
    np.testing.assert_allclose(got[0], np.transpose(want[0], [2, 0, 1, 3]), rtol=1e-5, atol=1e-5)
    for g, w in zip(got[1:], want[1:]):
        np.testing.assert_allclose(g, np.swapaxes(w, 0, 1), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_short_lstm_inside_a_data_dependent_if_gives_builtin_only_tflite(tmp_path):
    """silero VAD's decoder: an LSTM over a few static steps inside If branches. Unrolled, it needs no
    TensorList ops, which the TFLite converter cannot lower inside an IF."""
    import onnx
    from onnx import TensorProto, helper

    from bridge.api import convert
    from tools.corpus import tflite_op_counts

    def branch(name, scale):
        w, r = (_r(1, 4 * 8, 4) * scale).astype(np.float32), _r(1, 4 * 8, 8)
        inits = [onnx.numpy_helper.from_array(w, f"{name}_w"), onnx.numpy_helper.from_array(r, f"{name}_r")]
        node = helper.make_node("LSTM", ["x", f"{name}_w", f"{name}_r"], ["", f"{name}_h"], hidden_size=8)
        return helper.make_graph([node], name, [], [helper.make_tensor_value_info(f"{name}_h", TensorProto.FLOAT, None)],
                                 initializer=inits)

    node = helper.make_node("If", ["c"], ["y"], then_branch=branch("then", 1.0), else_branch=branch("else", -1.0))
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                                            helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 8])])
    path = tmp_path / "if_lstm.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    result = convert(str(path), to="tflite", out_dir=tmp_path / "out", inputs={"c": np.array(True), "x": _r(3, 1, 4)})
    assert result.passed, [p.to_json() for p in result.parity]
    counts = tflite_op_counts(tmp_path / "out" / "if_lstm.tflite")
    assert "IF" in counts and not [op for op in counts if op.startswith("Flex")], counts


@pytest.mark.parametrize("op,per_step", [("LSTM", {"Sigmoid": 1, "Tanh": 2}), ("GRU", {"Sigmoid": 1, "Tanh": 1})])
def test_unrolled_cell_runs_its_sigmoid_gates_as_one_kernel(op, per_step):
    """An unrolled step costs a handful of kernel calls, each far slower than its arithmetic on a small
    state: the sigmoid gates (LSTM's i, o, f; GRU's z, r) go through one Sigmoid and one Split, and every
    step's input comes from one Unpack, not a slice per step. Parity stays ORT's (the tests above)."""
    inputs, names = _inputs(op, 1)
    x = {"x": inputs.pop("x")}
    model = make_node_model(op, x, {"hidden_size": H}, opset=14, n_outputs=N_OUT[op], initializers=inputs,
                            input_names=names)
    types = tf_op_types(model)
    assert {k: types.count(k) for k in per_step} == {k: n * T for k, n in per_step.items()}
    assert types.count("Unpack") == 1
    for ours, reference in zip(run_tf(model, x), run_reference(model, x, "onnxruntime")):
        np.testing.assert_allclose(ours, reference, atol=1e-5)
