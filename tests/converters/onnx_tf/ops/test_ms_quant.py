"""ONNX Runtime's fused integer products, from its own quantizer and optimiser, against ORT itself."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.converters.onnx_tf.ops.ms_check import check_ms
from tests.converters.onnx_tf.ops.node_check import run_reference, run_tf

rng = np.random.default_rng(0)


@pytest.mark.parametrize("per_channel", [False, True])
def test_dynamic_quantize_matmul_as_ort_optimises_a_quantized_model(tmp_path, per_channel):
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    inits = [numpy_helper.from_array(rng.standard_normal((32, 24)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal(24).astype(np.float32), "b")]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5, 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5, 24])], initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "f.onnx")
    # 7-bit weight codes (reduce_range): ORT then computes exactly on every x86 CPU (AVX2 without VNNI saturates
    # u8 x s8 pair sums at int16 with full-range codes; bridge computes exactly)
    quantize_dynamic(tmp_path / "f.onnx", tmp_path / "q.onnx", weight_type=QuantType.QInt8, per_channel=per_channel,
                     reduce_range=True)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(tmp_path / "opt.onnx")
    ort.InferenceSession(tmp_path / "q.onnx", options, providers=["CPUExecutionProvider"])
    model = onnx.load(tmp_path / "opt.onnx")
    assert "DynamicQuantizeMatMul" in [n.op_type for n in model.graph.node]
    x = rng.standard_normal((2, 5, 32)).astype(np.float32)
    np.testing.assert_allclose(run_tf(model, {"x": x})[0], run_reference(model, {"x": x}, runtime="onnxruntime")[0],
                               rtol=1e-5, atol=1e-5)


def test_matmul_integer_to_float():
    a = rng.integers(0, 256, (3, 16)).astype(np.uint8)
    # codes within 7 bits, so that ORT computes exactly on AVX2 too (see above)
    inits = {"b": rng.integers(-64, 64, (16, 8)).astype(np.int8), "a_scale": np.array(0.02, np.float32),
             "b_scale": rng.uniform(0.01, 0.05, 8).astype(np.float32), "a_zp": np.array(128, np.uint8),
             "b_zp": np.zeros(8, np.int8), "bias": rng.standard_normal(8).astype(np.float32)}
    check_ms("MatMulIntegerToFloat", {"a": a}, initializers=inits,
             input_names=["a", "b", "a_scale", "b_scale", "a_zp", "b_zp", "bias"])
