"""Sources that quantise at run time are judged by SNR and cosine: a flipped 8-bit code is no conversion bug."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from bridge.verify.compare import Tolerances, compare_outputs
from bridge.verify.run_time_quant import judge_run_time_quantized, quantizes_at_run_time

rng = np.random.default_rng(0)


def _mlp(path):
    w = numpy_helper.from_array(rng.standard_normal((16, 8)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "mlp",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])], initializer=[w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_a_quantize_dynamic_model_quantizes_at_run_time(tmp_path):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    float_path = _mlp(tmp_path / "f.onnx")
    quantize_dynamic(float_path, tmp_path / "q.onnx", weight_type=QuantType.QInt8)
    assert "DynamicQuantizeLinear" in {n.op_type for n in onnx.load(tmp_path / "q.onnx").graph.node}
    assert quantizes_at_run_time(tmp_path / "q.onnx") and not quantizes_at_run_time(float_path)


def test_float_outputs_are_judged_by_snr_unless_tolerances_are_given():
    ref = {"logits": rng.standard_normal((32, 100)).astype(np.float32), "ids": np.arange(4)}
    close = {"logits": ref["logits"] + 0.01 * rng.standard_normal((32, 100)).astype(np.float32), "ids": np.arange(4)}
    far = {"logits": ref["logits"] + rng.standard_normal((32, 100)).astype(np.float32), "ids": np.arange(4)}
    results = compare_outputs(ref, close)
    assert not results[0].passed  # a code flip's worth of error fails atol 1e-4 ...
    judge_run_time_quantized(results, ref, close, Tolerances())
    assert results[0].passed and results[0].rule == "snr" and results[0].snr_db > 35  # ... not SNR >= 20 dB
    assert results[1].rule == "fixed" and results[1].passed  # integer outputs stay exact
    results = compare_outputs(ref, far)
    judge_run_time_quantized(results, ref, far, Tolerances())
    assert not results[0].passed and results[0].snr_db < 5
    same = compare_outputs(ref, ref)
    judge_run_time_quantized(same, ref, ref, Tolerances())
    assert same[0].passed and same[0].rule == "fixed"  # what passes element-wise keeps that verdict
    explicit = Tolerances(atol=1e-3)
    results = compare_outputs(ref, close, explicit)
    judge_run_time_quantized(results, ref, close, explicit)
    assert results[0].rule == "fixed" and not results[0].passed
