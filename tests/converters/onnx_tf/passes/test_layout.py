"""The layout pass: rules on their own, then whole graphs whose transposes are counted and whose values are
checked against ONNX Runtime with every axis-taking op reading a channels-last tensor."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from bridge_converters.onnx_tf import build_program
from bridge_converters.onnx_tf.passes import layout as L
from bridge_converters.onnx_tf.passes import layout_axes as A
from tests.converters.onnx_tf.ops.node_check import run_reference, transpose_count

CL = (0, 2, 3, 1)


def _view(op, shapes, layouts, attrs=None, consts=None, opset=21, outputs=1):
    node = helper.make_node(op, [f"i{k}" for k in range(len(shapes))], [f"o{k}" for k in range(outputs)])
    consts = consts or {}
    return L.NodeView(node, opset, dict(attrs or {}), [True] * len(shapes), list(layouts), list(shapes),
                      lambda i: consts.get(i))


def test_transpose_composes_with_the_input_layout_and_emits_nothing():
    # NCHW -> NHWC of a tensor already held channels-last: the result is in ONNX order, no op
    plan = L.TRANSPOSE(_view("Transpose", [[1, 8, 4, 5]], [CL], {"perm": [0, 2, 3, 1]}))
    assert plan.outputs == [(0, 1, 2, 3)] and plan.emit(["x"]) == ["x"]
    # and the inverse of a graph input's NHWC->NCHW transpose is channels-last for the next conv
    plan = L.TRANSPOSE(_view("Transpose", [[1, 4, 5, 8]], [(0, 1, 2, 3)], {"perm": [0, 3, 1, 2]}))
    assert plan.outputs == [CL]


def test_reshape_stays_physical_when_merged_axes_sit_side_by_side():
    # (N=1, C=16, H=4, W=4) held NHWC, merged to (1, 16, 16): H*W is contiguous physically, C moves last
    plan = L.RESHAPE(_view("Reshape", [[1, 16, 4, 4], [3]], [CL, (0,)], consts={1: np.array([1, 16, 16])}))
    assert plan.outputs == [(0, 2, 1)]
    # flattening C, H, W needs C first: not physical, so ONNX order (no plan)
    assert L.RESHAPE(_view("Flatten", [[2, 8, 4, 4]], [CL], {"axis": 1})) is None
    # ... unless only unit axes are in the way (global pooling's (N, C, 1, 1))
    plan = L.RESHAPE(_view("Flatten", [[2, 8, 1, 1]], [CL], {"axis": 1}))
    assert plan.outputs == [(0, 1)]


def test_axis_rules_map_onnx_axes_to_physical_ones():
    plan = A.CONCAT(_view("Concat", [[1, 3, 4, 4], [1, 5, 4, 4]], [CL, (0, 1, 2, 3)], {"axis": 1}))
    assert plan.attrs == {"axis": 3} and plan.inputs == [CL, CL] and plan.outputs == [CL]
    plan = A.REDUCE(_view("ReduceMean", [[1, 3, 4, 4]], [CL], {"axes": [2, 3], "keepdims": 0}, opset=13))
    assert plan.attrs == {"axes": [1, 2]} and plan.outputs == [(0, 1)]
    plan = A.ARG(_view("ArgMax", [[1, 3, 4, 4]], [CL], {"axis": 1, "keepdims": 0}))
    assert plan.attrs == {"axis": 3} and plan.outputs == [(0, 1, 2)]
    pads = np.array([0, 0, 1, 2, 0, 0, 3, 4])
    plan = A.PAD(_view("Pad", [[1, 3, 4, 4], [8]], [CL, (0,)], consts={1: pads}))
    assert plan.consts[1].tolist() == [0, 1, 2, 0, 0, 3, 4, 0]
    assert A.AXIS_13(_view("Softmax", [[1, 3, 4, 4]], [CL], {"axis": 1}, opset=11)) is None


def test_elementwise_broadcasts_lower_rank_operands_into_the_layout():
    plan = L.ELEMENTWISE(_view("Mul", [[1, 3, 4, 4], [3, 1, 1]], [CL, (0, 1, 2)]))
    assert plan.inputs == [CL, CL] and plan.broadcast == {1: 4} and plan.outputs == [CL]
    assert L.ELEMENTWISE(_view("Add", [[1, 3, 4, 4], [4]], [(0, 1, 2, 3), (0,)])) is None  # nothing permuted


def test_elementwise_takes_the_layout_that_moves_the_fewest_elements():
    bias = (0, 2, 3, 1)  # a Transpose's result, read by 8 layers: one transpose of it serves them all
    shapes = [[1, 4, 8, 8], [1, 4, 8, 8]]
    # readers unknown (each counted once): a tie, which keeps the permuted layout, as a CNN wants
    assert L.ELEMENTWISE(_view("Add", shapes, [(0, 1, 2, 3), bias])).outputs == [bias]
    shared = _view("Add", shapes, [(0, 1, 2, 3), bias])
    shared.uses = [1, 8]
    assert L.ELEMENTWISE(shared) is None  # ONNX order: the shared bias moves, once for all of its readers
    shared.uses = [8, 1]
    assert L.ELEMENTWISE(shared).outputs == [bias]
    # an SE block's (N, C, 1, 1) scale moves, not the feature map, however many nodes read that
    se = _view("Mul", [[1, 16, 8, 8], [1, 16, 1, 1]], [CL, (0, 1, 2, 3)])
    se.uses = [3, 1]
    assert L.ELEMENTWISE(se).outputs == [CL]
    # a constant moves at conversion time: it never decides
    const = _view("Add", shapes, [(0, 1, 2, 3), CL], consts={0: np.zeros((1, 4, 8, 8), np.float32)})
    assert L.ELEMENTWISE(const).outputs == [CL]


def test_a_bias_shared_by_attention_layers_is_transposed_once():
    """A relative-position bias that arrives through a Transpose and is added to the scores of every layer
    (T5, rxnmap): taking the bias's layout would transpose each layer's scores and its softmax's output."""
    node, heads, s, d, layers = helper.make_node, 2, 8, 4, 3
    body = [node("Transpose", ["raw"], ["bias"], perm=[0, 3, 1, 2])]
    for i in range(layers):
        body += [node("MatMul", [f"h{i}", "kt"], [f"s{i}"]), node("Add", [f"s{i}", "bias"], [f"z{i}"]),
                 node("Softmax", [f"z{i}"], [f"p{i}"], axis=-1), node("MatMul", [f"p{i}", "v"], [f"h{i + 1}"])]
    value = lambda n, shape: helper.make_tensor_value_info(n, TensorProto.FLOAT, shape)  # noqa: E731
    graph = helper.make_graph(body, "attention", [value("h0", [1, heads, s, d]), value("kt", [1, heads, d, s]),
                                                  value("v", [1, heads, s, d]), value("raw", [1, s, s, heads])],
                              [value(f"h{layers}", [1, heads, s, d])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    rng = np.random.default_rng(7)
    feeds = {i.name: rng.standard_normal([d.dim_value for d in i.type.tensor_type.shape.dim]).astype(np.float32)
             for i in graph.input}
    program = build_program(model, use_variables=False)
    assert transpose_count(program) == 1  # the bias to ONNX order, once; it was 2 per layer
    got = program.function(*feeds.values())[program.output_map[f"h{layers}"]].numpy()
    want = run_reference(model, feeds, runtime="onnxruntime")[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _conv_model(body, outputs, channels=4, size=6, extra_inits=()):
    """x -> Conv (so that what follows reads a channels-last tensor) -> ``body`` nodes."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((channels, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), *body]
    inits = [numpy_helper.from_array(w, "w"), *extra_inits]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, size, size])],
                              [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outputs],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v for v in [*inferred.graph.value_info, *inferred.graph.output]}
    for out in model.graph.output:
        out.CopyFrom(types[out.name])
    return model


def _const(name, value, dtype=np.int64):
    return numpy_helper.from_array(np.asarray(value, dtype), name)


def test_axis_taking_ops_on_a_channels_last_tensor_match_onnxruntime():
    node = helper.make_node
    body = [
        node("Relu", ["c"], ["relu"]),
        node("Concat", ["c", "relu"], ["concat"], axis=1),
        node("Split", ["c", "split"], ["s0", "s1"], axis=1),
        node("Softmax", ["c"], ["softmax"], axis=1),
        node("ReduceMean", ["c", "axes23"], ["mean"], keepdims=0),
        node("ReduceMax", ["c", "axes1"], ["max_keep"], keepdims=1),
        node("ArgMax", ["c"], ["argmax"], axis=1, keepdims=0),
        node("Slice", ["c", "starts", "ends", "axes1"], ["slice"]),
        node("Pad", ["c", "pads"], ["pad"]),
        node("Tile", ["c", "repeats"], ["tile"]),
        node("Gather", ["c", "idx0"], ["gather0"], axis=1),
        node("Gather", ["c", "idx1"], ["gather1"], axis=2),
        node("Shape", ["c"], ["shape"]),
        node("Flatten", ["c"], ["flatten"], axis=1),
        node("Reshape", ["c", "hw"], ["merged"]),
        node("Transpose", ["merged"], ["tokens"], perm=[0, 2, 1]),
        node("Unsqueeze", ["c", "axes1"], ["unsq"]),
        node("CumSum", ["c", "axis1"], ["cumsum"]),
        node("TopK", ["c", "k"], ["topv", "topi"], axis=1),
        node("Resize", ["c", "", "scales"], ["resized"], mode="linear"),
        node("DepthToSpace", ["c"], ["d2s"], blocksize=2, mode="CRD"),
        node("InstanceNormalization", ["c", "scale", "bias"], ["inorm"]),
        node("BatchNormalization", ["c", "scale", "bias", "bias", "var"], ["bn"]),
        node("LRN", ["c"], ["lrn"], size=3),
        node("PRelu", ["c", "slope"], ["prelu"]),
        node("Mul", ["c", "slope"], ["scaled"]),
        node("GlobalAveragePool", ["c"], ["gap"]),
        node("Transpose", ["c"], ["nhwc"], perm=[0, 2, 3, 1]),
    ]
    outputs = [o for n in body for o in n.output]
    rng = np.random.default_rng(1)
    inits = [_const("split", [1, 3]), _const("axes23", [2, 3]), _const("axes1", [1]), _const("axis1", 1),
             _const("starts", [1]), _const("ends", [3]), _const("pads", [0, 1, 0, 2, 0, 0, 1, 0]),
             _const("repeats", [1, 2, 1, 3]), _const("idx0", 2), _const("idx1", [0, 5, 2]), _const("hw", [2, 4, 36]),
             _const("k", [2]), _const("scales", [1, 1, 2, 1.5], np.float32),
             _const("scale", rng.standard_normal(4), np.float32), _const("bias", rng.standard_normal(4), np.float32),
             _const("var", rng.uniform(0.5, 2, 4), np.float32),
             _const("slope", rng.standard_normal((4, 1, 1)), np.float32)]
    model = _conv_model(body, outputs, extra_inits=inits)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    want = dict(zip(outputs, run_reference(model, {"x": x}, runtime="onnxruntime")))
    program = build_program(model, use_variables=False)
    got = program.function(x)
    for name in outputs:
        g, w = got[program.output_map[name]].numpy(), want[name]
        assert g.shape == w.shape, (name, g.shape, w.shape)
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=name)
    # one transpose in (x to channels-last); the rest are outputs that must leave in ONNX order, plus the
    # Reshape -> Transpose(0, 2, 1) pair, whose result is in ONNX order without any op
    assert transpose_count(program) <= 1 + len(outputs)


def _transposes(body, outputs, **kw):
    program = build_program(_conv_model(body, outputs, **kw), use_variables=False)
    return transpose_count(program)


def test_a_conv_stack_transposes_only_at_its_boundaries():
    rng = np.random.default_rng(2)
    w2 = numpy_helper.from_array(rng.standard_normal((4, 4, 3, 3)).astype(np.float32), "w2")
    body = [
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Add", ["r", "c"], ["s"]),
        helper.make_node("Conv", ["s", "w2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("MaxPool", ["c2"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Resize", ["p", "", "up"], ["u"], mode="nearest"),
        helper.make_node("Concat", ["u", "c2"], ["cat"], axis=1),
        helper.make_node("HardSwish", ["cat"], ["y"]),
    ]
    up = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "up")
    assert _transposes(body, ["y"], extra_inits=[w2, up]) == 2  # the input in, the output back


def test_a_transpose_pair_around_elementwise_ops_cancels():
    body = [helper.make_node("Transpose", ["c"], ["t"], perm=[0, 2, 3, 1]),
            helper.make_node("Sigmoid", ["t"], ["s"]),
            helper.make_node("Transpose", ["s"], ["y"], perm=[0, 3, 1, 2])]
    assert _transposes(body, ["y"]) == 2  # only around the conv; the model's own pair is gone
    nhwc_out = [helper.make_node("Transpose", ["c"], ["y"], perm=[0, 2, 3, 1])]
    assert _transposes(nhwc_out, ["y"]) == 1  # the conv's channels-last output is the NHWC output itself


@pytest.mark.parametrize("rank_unknown", [False, True])
def test_conv_without_a_plan_still_converts(rank_unknown):
    """Unknown rank means no layout plan: the channels-last handlers transpose themselves."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    shape = None if rank_unknown else [1, 3, 5, 5]
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    x = rng.standard_normal((1, 3, 5, 5)).astype(np.float32)
    program = build_program(model, use_variables=False)
    want = run_reference(model, {"x": x}, runtime="onnxruntime")[0]
    np.testing.assert_allclose(program.function(x)["y"].numpy(), want, rtol=1e-5, atol=1e-5)


def test_attention_scores_take_k_transposed_by_the_product_not_by_a_transpose():
    """Q K^T with heads split by Reshape + Transpose: each operand is transposed once, keeping its innermost
    axis (a copy of whole rows), and the product multiplies by K's transpose; materialising K^T itself
    would move the innermost axis, several times slower with oneDNN on."""
    node, b, s, h, d = helper.make_node, 2, 17, 4, 12
    body = [node("Reshape", ["q", "heads"], ["q4"]), node("Transpose", ["q4"], ["qt"], perm=[0, 2, 1, 3]),
            node("Reshape", ["k", "heads"], ["k4"]), node("Transpose", ["k4"], ["kt"], perm=[0, 2, 3, 1]),
            node("MatMul", ["qt", "kt"], ["scores"])]
    graph = helper.make_graph(body, "scores", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [b, s, h * d])
                                                for n in ("q", "k")],
                              [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [b, h, s, s])],
                              [_const("heads", [b, s, h, d])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    rng = np.random.default_rng(4)
    q, k = (rng.standard_normal((b, s, h * d)).astype(np.float32) for _ in range(2))
    program = build_program(model, use_variables=False)
    got = program.function(q, k)[program.output_map["scores"]].numpy()
    want = run_reference(model, {"q": q, "k": k}, runtime="onnxruntime")[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    ops = program.function.graph.get_operations()
    (product,) = [op for op in ops if op.type == "BatchMatMulV3"]
    assert product.get_attr("adj_y") and not product.get_attr("adj_x")
    perms = [op.get_attr("equation").decode() for op in ops if op.type == "Einsum"]
    assert len(perms) == transpose_count(program) == 2
    assert all(eq.split("->")[0][-1] == eq[-1] for eq in perms), perms  # the innermost axis stays innermost


@pytest.mark.parametrize("opset", [18, 21])
def test_group_normalization_between_convs_keeps_channels_last(opset):
    rng = np.random.default_rng(5)
    params = 2 if opset == 18 else 4  # opset 18: one scale and bias per group; 21: per channel
    body = [helper.make_node("GroupNormalization", ["c", "gs", "gb"], ["g"], num_groups=2, epsilon=1e-4),
            helper.make_node("Conv", ["g", "w2"], ["y"])]
    inits = [_const("gs", rng.uniform(0.5, 2, params), np.float32),
             _const("gb", rng.standard_normal(params), np.float32),
             _const("w2", rng.standard_normal((3, 4, 1, 1)), np.float32)]
    model = _conv_model(body, [], extra_inits=inits)
    model.graph.output.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 6, 6]))
    del model.opset_import[:]
    model.opset_import.append(helper.make_opsetid("", opset))
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    program = build_program(model, use_variables=False)
    assert transpose_count(program) == 2  # x in, y out
    want = run_reference(model, {"x": x})[0]
    np.testing.assert_allclose(program.function(x)["y"].numpy(), want, rtol=1e-4, atol=1e-4)


def test_a_channel_shuffle_between_convs_costs_one_transpose():
    """ShuffleNet's Reshape (N, g, C/g, H, W) -> Transpose(0, 2, 1, 3, 4) -> Reshape (N, C, H, W): the merge
    takes the one transpose the shuffle needs and leaves its result channels-last for the next conv."""
    rng = np.random.default_rng(6)
    body = [helper.make_node("Reshape", ["c", "split"], ["g"]),
            helper.make_node("Transpose", ["g"], ["t"], perm=[0, 2, 1, 3, 4]),
            helper.make_node("Reshape", ["t", "merge"], ["s"]),
            helper.make_node("Conv", ["s", "w2"], ["y"])]
    inits = [_const("split", [2, 2, 2, 6, 6]), _const("merge", [2, 4, 6, 6]),
             _const("w2", rng.standard_normal((3, 4, 1, 1)), np.float32)]
    model = _conv_model(body, ["y"], extra_inits=inits)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    program = build_program(model, use_variables=False)
    assert transpose_count(program) == 3  # x in, the shuffle, y out
    want = run_reference(model, {"x": x}, runtime="onnxruntime")[0]
    np.testing.assert_allclose(program.function(x)["y"].numpy(), want, rtol=1e-5, atol=1e-5)
