"""com.microsoft DynamicQuantizeLSTM, as ONNX Runtime's quantize_dynamic writes it, against ORT itself."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.converters.onnx_tf.ops.node_check import run_reference, run_tf

rng = np.random.default_rng(0)


def _quantized_lstm(tmp_path, direction, hidden=16, inputs=12, per_channel=False):
    """An ONNX LSTM (with initial states and biases) through ``quantize_dynamic``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dirs = 2 if direction == "bidirectional" else 1
    params = {"W": rng.standard_normal((dirs, 4 * hidden, inputs)) * 0.3,
              "R": rng.standard_normal((dirs, 4 * hidden, hidden)) * 0.3,
              "B": rng.standard_normal((dirs, 8 * hidden)) * 0.1,
              "h0": rng.standard_normal((dirs, 1, hidden)) * 0.5, "c0": rng.standard_normal((dirs, 1, hidden)) * 0.5}
    node = helper.make_node("LSTM", ["x", "W", "R", "B", "", "h0", "c0"], ["y", "h", "c"], hidden_size=hidden,
                            direction=direction)
    graph = helper.make_graph([node], "lstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [7, 1, inputs])],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y", "h", "c")],
                              initializer=[numpy_helper.from_array(v.astype(np.float32), k) for k, v in params.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), tmp_path / "f.onnx")
    # 7-bit weight codes: ORT computes exactly on AVX2 too (full-range u8 x s8 pair sums saturate at int16 there)
    quantize_dynamic(tmp_path / "f.onnx", tmp_path / "q.onnx", weight_type=QuantType.QInt8, per_channel=per_channel,
                     reduce_range=True)
    model = onnx.load(tmp_path / "q.onnx")
    assert [n.op_type for n in model.graph.node] == ["DynamicQuantizeLSTM"]
    return model


@pytest.mark.parametrize("direction,per_channel", [("forward", False), ("bidirectional", False), ("reverse", True)])
def test_dynamic_quantize_lstm_matches_onnxruntime(tmp_path, direction, per_channel):
    model = _quantized_lstm(tmp_path, direction, per_channel=per_channel)
    x = rng.standard_normal((7, 1, 12)).astype(np.float32)
    want = run_reference(model, {"x": x}, runtime="onnxruntime")
    got = run_tf(model, {"x": x})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    float_model = onnx.load(tmp_path / "f.onnx")  # the codes really are int8: the float LSTM differs
    assert np.abs(run_reference(float_model, {"x": x}, runtime="onnxruntime")[0] - want[0]).max() > 1e-3
