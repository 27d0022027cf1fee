"""The fake-quant pass: which Q/DQ pairs it marks, how it rewrites QLinear ops, and the TF numbers it makes."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from bridge_converters.onnx_tf.passes.fake_quant import fake_quant_pairs, mark_of


def _model(nodes, inits, outputs=("y",), opset=13, out_shape=None):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, out_shape) for o in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _marks(model):
    return [(n.op_type, mark_of(n)) for n in model.graph.node]


def test_pairs_with_equal_constants_are_marked_and_weights_get_a_fake_quant_of_their_own():
    w = np.arange(-8, 8, dtype=np.int8).reshape(2, 2, 2, 2)
    inits = {"s": np.float32(0.1), "z": np.int8(3), "ws": np.float32(0.05), "wz": np.int8(0), "w": w,
             "s2": np.float32(0.2)}
    model = _model([
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"]),
        helper.make_node("Conv", ["xd", "wd"], ["c"]),
        helper.make_node("QuantizeLinear", ["c", "s", "z"], ["cq"]),
        helper.make_node("DequantizeLinear", ["cq", "s2", "z"], ["y"]),  # another scale: not a pair
    ], inits)
    assert fake_quant_pairs(model)
    marks = _marks(model)
    assert marks[:2] == [("QuantizeLinear", "pair"), ("DequantizeLinear", "through")]
    assert ("QuantizeLinear", "weight") in marks and marks[-2:] == [("QuantizeLinear", ""), ("DequantizeLinear", "")]
    weight_q = next(n for n in model.graph.node if mark_of(n) == "weight")
    floats = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert np.allclose(floats[weight_q.input[0]], w.astype(np.float32) * 0.05)  # the dequantized weight
    untouched = _model([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])], inits)
    assert not fake_quant_pairs(untouched)  # a Q whose integer output leaves the graph stays as it is


def test_qlinear_conv_and_an_integer_max_pool_become_float_ops_between_pairs():
    inits = {"xs": np.float32(0.05), "xz": np.uint8(128), "w": np.ones((2, 2, 1, 1), np.int8),
             "ws": np.array([0.01, 0.02], np.float32), "wz": np.zeros(2, np.int8), "ys": np.float32(0.1),
             "yz": np.uint8(0), "b": np.array([5, -5], np.int32)}
    model = _model([
        helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
        helper.make_node("QLinearConv", ["xq", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["cq"], name="conv"),
        helper.make_node("MaxPool", ["cq"], ["pq"], kernel_shape=[2, 2]),
        helper.make_node("DequantizeLinear", ["pq", "ys", "yz"], ["y"]),
    ], inits)
    assert fake_quant_pairs(model)
    ops = [n.op_type for n in model.graph.node]
    assert "QLinearConv" not in ops and ops.count("Conv") == 1 and ops.count("MaxPool") == 1
    pool = next(n for n in model.graph.node if n.op_type == "MaxPool")
    producer = {o: n for n in model.graph.node for o in n.output}
    assert producer[pool.input[0]].op_type == "DequantizeLinear" and mark_of(producer[pool.input[0]]) == "through"
    bias_dq = next(n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == "b")
    scales = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert np.allclose(scales[bias_dq.input[1]], [0.05 * 0.01, 0.05 * 0.02])  # x_scale * w_scale
    assert all(mark_of(n) in ("pair", "through", "weight") for n in model.graph.node
               if n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.input[0] != "b")


def test_marked_pairs_convert_to_tf_fake_quant_within_one_step_of_onnx_runtime(tmp_path):
    import onnxruntime as ort

    from bridge.model import Artifact, ConvertOptions
    from bridge.runtimes import load_runner
    from bridge_converters.onnx_tf import onnx_to_tf

    inits = {"s": np.float32(0.05), "z": np.int8(-3), "w": np.arange(-16, 16, dtype=np.int8).reshape(4, 2, 2, 2),
             "ws": np.array([0.01, 0.02, 0.03, 0.04], np.float32), "wz": np.zeros(4, np.int8)}
    model = _model([
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"], axis=0),
        helper.make_node("Conv", ["xd", "wd"], ["y"]),
    ], inits, out_shape=[1, 4, 3, 3])
    onnx.save(model, tmp_path / "m.onnx")
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 4)).astype(np.float32) * 3
    expected = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    artifact = onnx_to_tf(Artifact(format="onnx", path=tmp_path / "m.onnx"), tmp_path / "sm",
                          ConvertOptions(extra={"passes": ["fake_quant"]}))
    got = load_runner(artifact).run({"x": x})["y"]
    # fake quant rounds half away from zero where ONNX rounds half to even: at most one input step apart
    assert np.abs(got - expected).max() <= 0.05 * np.abs(inits["w"] * inits["ws"][:, None, None, None]).sum(axis=(1, 2, 3)).max()
    assert np.mean(np.isclose(got, expected, atol=1e-5)) > 0.9
