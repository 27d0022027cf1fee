"""The graph walk: unsupported ops are collected everywhere (subgraphs too), with counts, before any work."""

import onnx
import pytest
from onnx import TensorProto, helper

from bridge.errors import UnsupportedError
from bridge_converters.onnx_tf import build_program, find_unsupported


def _branch(name, op, domain=""):
    return helper.make_graph([helper.make_node(op, ["x"], [f"{name}_y"], domain=domain)], name, [],
                             [helper.make_tensor_value_info(f"{name}_y", TensorProto.FLOAT, [3])])


def test_unsupported_ops_inside_if_bodies_are_listed_with_top_level_ones():
    nodes = [
        helper.make_node("If", ["cond"], ["y"], then_branch=_branch("then", "Mystery", "com.example"),
                         else_branch=_branch("else", "Relu")),
        helper.make_node("Enigma", ["y"], ["z"], domain="com.example"),
        helper.make_node("Mystery", ["z"], ["w"], domain="com.example"),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
                                           helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("w", TensorProto.FLOAT, [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.example", 1)])
    assert find_unsupported(model) == {"com.example::Mystery": 2, "com.example::Enigma": 1}
    with pytest.raises(UnsupportedError) as info:
        build_program(model)
    assert info.value.exit_code == 3
    assert info.value.unsupported == {"com.example::Mystery": 2, "com.example::Enigma": 1}
    assert "com.example::Mystery x2" in str(info.value)


def _ort(model, feeds):
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _tf(model, feeds):
    import tensorflow as tf

    program = build_program(model, use_variables=False)
    result = program.function(*[tf.constant(v) for v in feeds.values()])
    return program, [result[program.output_map[o.name]].numpy() for o in model.graph.output]


def test_shape_arithmetic_on_known_shapes_folds_and_picks_the_if_branch():
    """torch.onnx's "squeeze if the dim is 1": Shape -> Gather -> Equal -> If. With the input shape known the
    condition folds, only the taken branch is converted, and the rank after the If stays known."""
    import numpy as np
    import onnx.parser

    model = onnx.parser.parse_model("""
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 3, 1] x) => (float[?] y) {
        s = Shape (x)
        two = Constant <value = int64 {2}> ()
        d = Gather <axis = 0> (s, two)
        one = Constant <value = int64 {1}> ()
        c = Equal (d, one)
        axes = Constant <value = int64[1] {2}> ()
        r = If (c) <
            then_branch = t () => (float[?] tr) { tr = Squeeze (x, axes) },
            else_branch = e () => (float[?] er) { er = Identity (x) }
        >
        last = Constant <value = int64[1] {-1}> ()
        y = Unsqueeze (r, last)
    }
    """)
    feeds = {"x": np.arange(3, dtype=np.float32).reshape(1, 3, 1)}
    program, got = _tf(model, feeds)
    ops = {n.op for f in program.function.graph.as_graph_def().library.function for n in f.node_def}
    ops |= {n.op for n in program.function.graph.as_graph_def().node}
    assert not ops & {"If", "StatelessIf"}, ops
    np.testing.assert_array_equal(got[0], _ort(model, feeds)[0])


@pytest.mark.parametrize("opset", [7, 9, 11, 13, 17, 23])
def test_a_cnn_converts_at_every_opset_from_7_to_23(opset):
    """Opsets 7-23 are accepted: the same small CNN, its ops at each version's schema."""
    import numpy as np

    rng = np.random.default_rng(opset)
    inits = {"w": rng.standard_normal((4, 3, 3, 3)), "b": rng.standard_normal(4), "scale": rng.random(4) + 0.5,
             "bias": rng.standard_normal(4), "mean": rng.standard_normal(4) * 0.1, "var": rng.random(4) + 0.5,
             "fc": rng.standard_normal((2, 16)), "fcb": rng.standard_normal(2)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["n"]),
             helper.make_node("Relu", ["n"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[4, 4], strides=[4, 4]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc", "fcb"], ["g"], transB=1),
             helper.make_node("Softmax", ["g"], ["y"], axis=1)]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])],
                              initializer=[onnx.numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    onnx.checker.check_model(model)
    feeds = {"x": rng.standard_normal((2, 3, 8, 8)).astype(np.float32)}
    np.testing.assert_allclose(_tf(model, feeds)[1][0], _ort(model, feeds)[0], rtol=1e-5, atol=1e-6)
