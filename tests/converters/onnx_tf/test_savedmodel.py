import numpy as np
import onnx
from onnx import TensorProto, helper

from bridge_converters.onnx_tf import build_program, sanitize_names, save_savedmodel
from bridge.runtimes.tf_savedmodel import TensorFlowRunner
from bridge.model import Artifact


def test_sanitize_names_is_one_documented_rule():
    mapping = sanitize_names(["input.1", "x", "1st", "a-b", "a_b", "", "x"])
    assert mapping["input.1"] == "input_1"
    assert mapping["1st"] == "t_1st"
    assert mapping["a-b"] == "a_b" and mapping["a_b"] == "a_b_1"
    assert mapping[""] == "t_"


def _dynamic_model():
    nodes = [helper.make_node("MatMul", ["input.1", "w"], ["h"]), helper.make_node("Relu", ["h"], ["out:0"])]
    w = np.arange(4 * 32, dtype=np.float32).reshape(4, 32) / 100
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("out:0", TensorProto.FLOAT, ["batch", 32])],
                              initializer=[onnx.numpy_helper.from_array(w, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]), w


def test_savedmodel_keeps_names_dynamic_batch_and_variables(tmp_path):
    model, w = _dynamic_model()
    program = build_program(model)
    assert program.input_map == {"input.1": "input_1"} and program.output_map == {"out:0": "out_0"}
    path = tmp_path / "sm"
    save_savedmodel(program, path)
    import tensorflow as tf

    assert [v.shape.as_list() for v in tf.saved_model.load(str(path)).weights] == [[4, 32]]
    runner = TensorFlowRunner(Artifact(format="tf", path=path))
    assert runner.input_specs[0].shape == (None, 4)
    for batch in (1, 5):
        x = np.random.default_rng(batch).standard_normal((batch, 4)).astype(np.float32)
        got = runner.run({"input.1": x})["out:0"]
        np.testing.assert_allclose(got, np.maximum(x @ w, 0), rtol=1e-6, atol=1e-6)


def test_saving_does_not_trace_the_graph_again(tmp_path, monkeypatch):
    """tf.saved_model.save traces a tf.function it finds on the module once more: twice the conversion time
    of a big model (a 5-million-node tree ensemble: minutes) and a second copy of its constants on disk."""
    from bridge_converters.onnx_tf.graph import GraphWalker

    runs = []
    original = GraphWalker.run
    monkeypatch.setattr(GraphWalker, "run", lambda self, feeds: runs.append(1) or original(self, feeds))
    model, w = _dynamic_model()
    program = build_program(model)
    save_savedmodel(program, tmp_path / "sm")
    assert len(runs) == 1
    x = np.ones((2, 4), np.float32)
    got = TensorFlowRunner(Artifact(format="tf", path=tmp_path / "sm")).run({"input.1": x})["out:0"]
    np.testing.assert_allclose(got, np.maximum(x @ w, 0), rtol=1e-6)
