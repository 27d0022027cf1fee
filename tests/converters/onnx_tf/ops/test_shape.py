import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import (check_node, make_node_model, run_reference, run_tf, tf_op_types,
                                                    tflite_builtins)

__all__ = ["check_dynamic"]

rng = np.random.default_rng(0)
X = rng.standard_normal((2, 3, 4)).astype(np.float32)
I64 = np.int64


def check_dynamic(op_type, inputs, attrs=None, *, n_outputs=1, opset=21, initializers=None, input_names=None,
                  runtime="reference"):
    """Like check_node, but every graph-input dimension is symbolic, so handlers run on unknown shapes."""
    model = make_node_model(op_type, inputs, attrs, n_outputs, opset, initializers=initializers,
                            input_names=input_names)
    for value in model.graph.input:
        for i, dim in enumerate(value.type.tensor_type.shape.dim):
            dim.dim_param = f"{value.name}_{i}"
    for value in model.graph.output:
        value.type.tensor_type.ClearField("shape")
    got = run_tf(model, inputs)
    want = run_reference(model, inputs, runtime)
    for i, (g, w) in enumerate(zip(got, want)):
        w = np.asarray(w)
        assert g.shape == w.shape, f"output {i}: shape {g.shape} != {w.shape}"
        assert g.dtype == w.dtype, f"output {i}: dtype {g.dtype} != {w.dtype}"
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=f"output {i}")
    return got


@pytest.mark.parametrize("attrs", [{}, {"start": 1}, {"end": -1}, {"start": -2, "end": 10}, {"start": 2, "end": 1}])
def test_shape(attrs):
    check_node("Shape", {"x": X}, attrs)
    check_dynamic("Shape", {"x": X}, attrs)


def test_size():
    check_node("Size", {"x": X})
    check_dynamic("Size", {"x": X})


@pytest.mark.parametrize("target,allowzero", [
    ([3, -1], 0), ([0, 0, 2, 2], 0), ([-1], 0), ([0, -1], 0), ([2, 12], 1),
])
def test_reshape(target, allowzero):
    shape = np.array(target, I64)
    check_node("Reshape", {"x": X}, {"allowzero": allowzero}, initializers={"shape": shape})
    check_node("Reshape", {"x": X, "shape": shape}, {"allowzero": allowzero})
    check_dynamic("Reshape", {"x": X, "shape": shape}, {"allowzero": allowzero})


def test_reshape_allowzero_keeps_zero():
    empty = np.zeros((0, 3), np.float32)
    check_node("Reshape", {"x": empty, "shape": np.array([3, 0], I64)}, {"allowzero": 1})


def test_reshape_v1_attribute():
    # The reference evaluator has no Reshape-1; numpy states the expected result.
    model = make_node_model("Reshape", {"x": X}, {"shape": [4, 0, -1]}, opset=4)
    np.testing.assert_array_equal(run_tf(model, {"x": X})[0], X.reshape(4, 3, 2))


@pytest.mark.parametrize("axis", [0, 1, 2, 3, -1])
def test_flatten(axis):
    check_node("Flatten", {"x": X}, {"axis": axis})
    check_dynamic("Flatten", {"x": X}, {"axis": axis})


def test_flatten_zero_sized():
    # numpy (and so the reference evaluator) cannot infer -1 with zero elements; the answer is [0, 3].
    x = np.zeros((2, 0, 3), np.float32)
    assert run_tf(make_node_model("Flatten", {"x": x}, {"axis": 2}), {"x": x})[0].shape == (0, 3)


@pytest.mark.parametrize("axes", [None, [0], [-1, 0]])
def test_squeeze(axes):
    x = rng.standard_normal((1, 3, 1)).astype(np.float32)
    if axes is None:
        check_node("Squeeze", {"x": x})
        check_node("Squeeze", {"x": x}, opset=11)
        return
    check_node("Squeeze", {"x": x}, {"axes": axes}, opset=11)
    check_node("Squeeze", {"x": x}, initializers={"axes": np.array(axes, I64)})
    check_node("Squeeze", {"x": x, "axes": np.array(axes, I64)})
    check_dynamic("Squeeze", {"x": x, "axes": np.array(axes, I64)})


@pytest.mark.parametrize("axes", [[0], [1, -1], [0, 4], [-4]])
def test_unsqueeze(axes):
    check_node("Unsqueeze", {"x": X}, {"axes": axes}, opset=11)
    check_node("Unsqueeze", {"x": X}, initializers={"axes": np.array(axes, I64)})
    check_node("Unsqueeze", {"x": X, "axes": np.array(axes, I64)})
    check_dynamic("Unsqueeze", {"x": X, "axes": np.array(axes, I64)})


def test_unsqueeze_scalar():
    check_node("Unsqueeze", {"x": np.array(3.0, np.float32), "axes": np.array([0, 1], I64)})


@pytest.mark.parametrize("x_shape,target", [((3, 1), [2, 1, 6]), ((2, 3, 4), [1, 1]), ((1, 4), [3, 1])])
def test_expand(x_shape, target):
    x = rng.standard_normal(x_shape).astype(np.float32)
    check_node("Expand", {"x": x}, initializers={"shape": np.array(target, I64)})
    check_dynamic("Expand", {"x": x, "shape": np.array(target, I64)})


def test_expand_bool():
    check_node("Expand", {"x": np.array([True, False])}, initializers={"shape": np.array([3, 1], I64)})


@pytest.mark.parametrize("perm", [None, [2, 0, 1]])
def test_transpose(perm):
    check_node("Transpose", {"x": X}, {} if perm is None else {"perm": perm})


@pytest.mark.parametrize("axis", [0, -1])
def test_concat(axis):
    check_node("Concat", {"a": X, "b": X + 1}, {"axis": axis})
    check_dynamic("Concat", {"a": X, "b": X + 1}, {"axis": axis})


@pytest.mark.parametrize("repeats", [[1, 2, 3], [2, 1, 1]])
def test_tile(repeats):
    check_node("Tile", {"x": X}, initializers={"r": np.array(repeats, I64)})
    check_dynamic("Tile", {"x": X, "r": np.array(repeats, I64)})


@pytest.mark.parametrize("start,limit,delta,dtype", [
    (3, 9, 3, np.int32), (10, 4, -2, np.int64), (1.0, 5.0, 0.3, np.float32), (0.0, -1.0, 0.25, np.float64),
    (5, 1, 1, np.int64), (1, 7, 2, np.int16),
])
def test_range(start, limit, delta, dtype):
    args = {"start": np.array(start, dtype), "limit": np.array(limit, dtype), "delta": np.array(delta, dtype)}
    check_node("Range", args)
    check_node("Range", {}, initializers=args)


@pytest.mark.parametrize("start,limit,delta", [(0, 7, 1), (2, 9, 1), (9, 2, 1), (6, -3, -1), (-3, 6, -1)])
def test_an_int64_range_by_a_constant_unit_step_needs_no_division(tmp_path, start, limit, delta):
    """YOLO26's head counts Range(0, a dynamic length, 1) in int64, where TFLite has no FLOOR_DIV kernel."""
    inputs = {"start": np.array(start, I64), "limit": np.array(limit, I64)}
    model = make_node_model("Range", inputs, initializers={"delta": np.array(delta, I64)})
    check_node("Range", inputs, initializers={"delta": np.array(delta, I64)})
    assert "FloorDiv" not in tf_op_types(model)
    assert "RANGE" in tflite_builtins(model, tmp_path)


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_to_space(mode):
    x = rng.standard_normal((2, 8, 2, 3)).astype(np.float32)
    check_node("DepthToSpace", {"x": x}, {"blocksize": 2, "mode": mode})
    check_dynamic("DepthToSpace", {"x": x}, {"blocksize": 2, "mode": mode})


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_space_to_depth(mode):
    x = rng.standard_normal((1, 2, 4, 6)).astype(np.float32)
    attrs, opset = ({}, 21) if mode == "DCR" else ({"mode": "CRD"}, 28)  # mode arrived in opset 28
    check_node("SpaceToDepth", {"x": x}, {"blocksize": 2, **attrs}, opset=opset)
    check_dynamic("SpaceToDepth", {"x": x}, {"blocksize": 2, **attrs}, opset=opset)


# An If whose branches differ in rank (torch.onnx's "squeeze if the dim is 1" idiom) hides the rank from
# TensorFlow; Unsqueeze and Squeeze with negative axes then work against the run-time rank.
UNKNOWN_RANK = """
<ir_version: 8, opset_import: ["" : 13]>
g (bool c, float[1, 3, 1] x) => (float[?] y, float[?] z) {
    zero = Constant <value = int64[1] {0}> ()
    last = Constant <value = int64[1] {-1}> ()
    r = If (c) <
        then_branch = t () => (float[?] tr) { tr = Squeeze (x, zero) },
        else_branch = e () => (float[?] er) { er = Identity (x) }
    >
    y = Unsqueeze (r, last)
    z = Squeeze (y, last)
}
"""


@pytest.mark.parametrize("cond", [True, False])
def test_unsqueeze_and_squeeze_negative_axes_of_unknown_rank(cond):
    import onnx.parser

    model = onnx.parser.parse_model(UNKNOWN_RANK)
    inputs = {"c": np.array(cond), "x": rng.standard_normal((1, 3, 1)).astype(np.float32)}
    got, want = run_tf(model, inputs), run_reference(model, inputs, "onnxruntime")
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_array_equal(g, w)
    assert got[0].shape == ((3, 1, 1) if cond else (1, 3, 1, 1))


@pytest.mark.parametrize("dtype,tf_op", [(np.float32, "Einsum"), (np.int32, "Transpose")])
def test_float32_transpose_is_a_one_operand_einsum_that_tflite_makes_one_transpose(tmp_path, dtype, tf_op):
    """With oneDNN on, TF rewrites a float32 Transpose into a oneDNN reorder that costs 100+ us a call on
    small tensors; the permuting Einsum runs Eigen's transpose. Figures still count it as a transpose."""
    from bridge.inspect.figures import graph_figures
    from bridge_converters.onnx_tf import build_program, save_savedmodel

    x = X.astype(dtype)
    model = make_node_model("Transpose", {"x": x}, {"perm": [2, 0, 1]})
    types = tf_op_types(model)
    assert tf_op in types and {"Einsum", "Transpose"} - {tf_op} & set(types) == set()
    np.testing.assert_array_equal(run_tf(model, {"x": x})[0], x.transpose(2, 0, 1))
    save_savedmodel(build_program(model), tmp_path / "t")
    assert graph_figures(tmp_path / "t").transposes == 1
    if dtype == np.float32:
        assert tflite_builtins(model, tmp_path) == {"TRANSPOSE": 1}


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_a_transpose_that_moves_only_unit_axes_is_a_reshape(tmp_path, dtype):
    """(2, 1, 5) -> (2, 5, 1) keeps every element in place: a Reshape in TF and TFLite, no copy."""
    x = np.arange(10).reshape(2, 1, 5).astype(dtype)
    model = make_node_model("Transpose", {"x": x}, {"perm": [0, 2, 1]})
    types = set(tf_op_types(model))
    assert "Reshape" in types and not types & {"Einsum", "Transpose"}
    np.testing.assert_array_equal(run_tf(model, {"x": x})[0], x.transpose(0, 2, 1))
    if dtype == np.float32:
        assert tflite_builtins(model, tmp_path) == {"RESHAPE": 1}


# YOLO26's attention: v is reshaped back to [B, C, H, W] by a shape built from Shape's run-time values; the
# depthwise convolution after it needs a static channel count to be a TFLite builtin.
RESHAPE_BY_RUN_TIME_SHAPE = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 8, H, W] x) => (float[1, 8, H, W] y) {
    s = Shape(x)
    i0 = Constant <value = int64 {0}> ()
    i1 = Constant <value = int64 {1}> ()
    i2 = Constant <value = int64 {2}> ()
    i3 = Constant <value = int64 {3}> ()
    ax = Constant <value = int64[1] {0}> ()
    rest = Constant <value = int64[1] {-1}> ()
    g0 = Gather <axis = 0> (s, i0)
    g1 = Gather <axis = 0> (s, i1)
    g2 = Gather <axis = 0> (s, i2)
    g3 = Gather <axis = 0> (s, i3)
    b = Unsqueeze(g0, ax)
    c = Unsqueeze(g1, ax)
    h = Unsqueeze(g2, ax)
    w = Unsqueeze(g3, ax)
    flat_shape = Concat <axis = 0> (b, c, rest)
    flat = Reshape(x, flat_shape)
    two = Constant <value = float {2.0}> ()
    doubled = Mul(flat, two)
    back_shape = Concat <axis = 0> (b, c, h, w)
    back = Reshape(doubled, back_shape)
    k = Constant <value = float[8, 1, 3, 3] {
        1,2,3,4,5,6,7,8,9, 1,2,3,4,5,6,7,8,9, 1,2,3,4,5,6,7,8,9, 1,2,3,4,5,6,7,8,9,
        1,2,3,4,5,6,7,8,9, 1,2,3,4,5,6,7,8,9, 1,2,3,4,5,6,7,8,9, 1,2,3,4,5,6,7,8,9}> ()
    y = Conv <group = 8, pads = [1, 1, 1, 1]> (back, k)
}
"""


@pytest.mark.slow
def test_a_reshape_by_run_time_dims_keeps_the_dims_onnx_inference_knows(tmp_path):
    import onnx.parser

    from bridge.api import convert
    from tools.corpus import tflite_op_counts

    path = tmp_path / "attn_v.onnx"
    onnx.save(onnx.parser.parse_model(RESHAPE_BY_RUN_TIME_SHAPE), path)
    x = rng.standard_normal((1, 8, 6, 10)).astype(np.float32)
    result = convert(str(path), to="tflite", out_dir=tmp_path / "out", inputs={"x": x},
                     dynamic={"x": {2: "H", 3: "W"}})
    assert result.passed, [p.to_json() for p in result.parity]
    counts = tflite_op_counts(tmp_path / "out" / "attn_v.tflite")
    assert "DEPTHWISE_CONV_2D" in counts and not [op for op in counts if op.startswith("Flex")], counts


# A ViT/FPN head exported with a dynamic batch: the Resize sizes pass Shape(x)[0:2] through and compute H and
# W by integer and float arithmetic on static dims; the Reshape target is x.view(batch, -1, 4). Only the
# batch is unknown, so every size is known at conversion time but the batch that passes through.
DYNAMIC_BATCH_SHAPE_ARITHMETIC = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[B, 4, 6, 6] x) => (float[B, 4, 8, 8] y, float[B, 36, 4] t) {
    s = Shape(x)
    zero = Constant <value = int64[1] {0}> ()
    two = Constant <value = int64[1] {2}> ()
    batch_channels = Slice(s, zero, two, zero)
    i0 = Constant <value = int64 {0}> ()
    i2 = Constant <value = int64 {2}> ()
    h = Gather <axis = 0> (s, i2)
    k = Constant <value = int64 {3}> ()
    patches = Div(h, k)
    hf = Cast <to = 1> (patches)
    quarter = Constant <value = float {0.25}> ()
    scaled = Div(hf, quarter)
    floored = Floor(scaled)
    out_h = Cast <to = 7> (floored)
    ax = Constant <value = int64[1] {0}> ()
    oh = Unsqueeze(out_h, ax)
    sizes = Concat <axis = 0> (batch_channels, oh, oh)
    y = Resize <mode = "linear", coordinate_transformation_mode = "half_pixel"> (x, , , sizes)
    batch = Gather <axis = 0> (s, i0)
    b = Unsqueeze(batch, ax)
    rest = Constant <value = int64[2] {-1, 4}> ()
    target = Concat <axis = 0> (b, rest)
    t = Reshape(x, target)
}
"""


@pytest.mark.slow
def test_shape_arithmetic_under_a_dynamic_batch_folds_to_builtin_resize_and_constant_reshape(tmp_path):
    import onnx.parser

    from bridge.api import convert
    from tools.corpus import tflite_op_counts

    path = tmp_path / "head.onnx"
    onnx.save(onnx.parser.parse_model(DYNAMIC_BATCH_SHAPE_ARITHMETIC), path)
    result = convert(str(path), to="tflite", out_dir=tmp_path / "out", dynamic={"x": {0: "B"}},
                     shapes=[["x:1x4x6x6"], ["x:3x4x6x6"]])
    assert result.passed, [p.to_json() for p in result.parity]
    counts = tflite_op_counts(tmp_path / "out" / "head.tflite")
    assert counts.get("RESIZE_BILINEAR") == 1, counts
    assert not [op for op in counts if op.startswith("Flex")] and "SHAPE" not in counts, counts
