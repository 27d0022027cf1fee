import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import check_node, make_node_model, run_reference, run_tf

rng = np.random.default_rng(0)
X = rng.standard_normal((1, 2, 4, 5)).astype(np.float32)
COORDS = ["half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric"]


def _resize(x, attrs, scales=None, sizes=None, roi=None, dynamic=False, opset=19, **kw):
    """Resize with scales/sizes as constants, or as graph inputs when ``dynamic``."""
    tensors = {"roi": np.asarray(roi if roi is not None else [], np.float32)}
    if scales is not None:
        tensors["scales"] = np.asarray(scales, np.float32)
    if sizes is not None:
        tensors["sizes"] = np.asarray(sizes, np.int64)
    names = ["x", "roi", "scales" if scales is not None else "", "sizes" if sizes is not None else ""]
    inputs = {"x": x, **(tensors if dynamic else {})}
    check_node("Resize", inputs, attrs, opset=opset, initializers=None if dynamic else tensors,
               input_names=names, **kw)


@pytest.mark.parametrize("coord", COORDS)
@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_resize_scales(mode, coord):
    _resize(X, {"mode": mode, "coordinate_transformation_mode": coord}, scales=[1, 1, 1.7, 0.6], atol=1e-5)


@pytest.mark.parametrize("nearest_mode", ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"])
def test_resize_nearest_modes(nearest_mode):
    _resize(X, {"mode": "nearest", "nearest_mode": nearest_mode}, sizes=[1, 2, 7, 3])


@pytest.mark.parametrize("dynamic", [False, True])
def test_resize_cubic_exclude_outside(dynamic):
    _resize(X, {"mode": "cubic", "cubic_coeff_a": -0.5, "exclude_outside": 1}, scales=[1, 1, 2.0, 1.5],
            dynamic=dynamic, atol=1e-5)


@pytest.mark.parametrize("policy", ["not_larger", "not_smaller"])
def test_resize_axes_and_aspect_ratio(policy):
    _resize(X, {"mode": "linear", "axes": [3, 2], "keep_aspect_ratio_policy": policy}, sizes=[8, 6], atol=1e-5)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_resize_antialias(mode):
    x = rng.standard_normal((1, 1, 9, 8)).astype(np.float32)
    _resize(x, {"mode": mode, "antialias": 1}, scales=[1, 1, 0.4, 0.7], atol=1e-5)


def test_resize_tf_crop_and_resize():
    _resize(X, {"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": 5.0},
            sizes=[1, 2, 3, 3], roi=[0, 0, -0.2, 0.3, 1, 1, 0.7, 1.4], atol=1e-5)


def test_resize_uint8_linear():
    x = rng.integers(0, 255, (1, 1, 3, 4), dtype=np.uint8)
    _resize(x, {"mode": "linear"}, scales=[1, 1, 2, 1.5])


def test_resize_opset_10_and_upsample():
    check_node("Resize", {"x": X}, {"mode": "nearest"}, opset=10, runtime="onnxruntime",
               initializers={"scales": np.array([1, 1, 2, 3], np.float32)})
    check_node("Upsample", {"x": X}, {"mode": "nearest"}, opset=9,
               initializers={"scales": np.array([1, 1, 2, 3], np.float32)})


@pytest.mark.parametrize("mode", ["linear", "nearest", "cubic"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [0, 1])
def test_grid_sample(mode, padding, align):
    grid = (rng.random((1, 3, 4, 2)) * 2.6 - 1.3).astype(np.float32)
    check_node("GridSample", {"x": X, "grid": grid}, {"mode": mode, "padding_mode": padding, "align_corners": align},
               opset=20, atol=1e-5)


def test_grid_sample_3d():
    x = rng.standard_normal((1, 2, 3, 4, 5)).astype(np.float32)
    grid = (rng.random((1, 2, 3, 2, 3)) * 2.4 - 1.2).astype(np.float32)
    check_node("GridSample", {"x": x, "grid": grid}, {"mode": "linear"}, opset=20, atol=1e-5)


@pytest.mark.parametrize("align", [0, 1])
@pytest.mark.parametrize("size", [[2, 3, 4, 5], [2, 3, 3, 4, 5]])
def test_affine_grid(align, size):
    n = len(size) - 2
    theta = rng.standard_normal((2, n, n + 1)).astype(np.float32)
    check_node("AffineGrid", {"theta": theta}, {"align_corners": align}, opset=20,
               initializers={"size": np.array(size, np.int64)}, atol=1e-5)


@pytest.mark.parametrize("attrs", [
    {"output_height": 2, "output_width": 3, "sampling_ratio": 2, "spatial_scale": 0.5},
    {"output_height": 3, "output_width": 2, "coordinate_transformation_mode": "output_half_pixel"},
    {"output_height": 2, "output_width": 2, "mode": "max", "sampling_ratio": 1},
])
def test_roi_align(attrs):
    x = rng.standard_normal((2, 2, 6, 7)).astype(np.float32)
    rois = np.array([[0.5, 1.0, 5.0, 4.5], [1.0, 0.0, 12.0, 9.0], [-2.0, 2.0, 3.0, 7.0]], np.float32)
    check_node("RoiAlign", {"x": x, "rois": rois}, attrs, opset=16, atol=1e-5,
               initializers={"batch": np.array([0, 1, 1], np.int64)})


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_over_unknown_sizes(mode):
    tensors = {"roi": np.array([], np.float32), "scales": np.array([1, 1, 2, 1.5], np.float32)}
    model = make_node_model("Resize", {"x": X}, {"mode": mode}, opset=13, initializers=tensors)
    for dim in list(model.graph.input[0].type.tensor_type.shape.dim)[2:]:
        dim.dim_param = "s"
    np.testing.assert_allclose(run_tf(model, {"x": X})[0], run_reference(model, {"x": X})[0], rtol=1e-5, atol=1e-6)


def _conv_resize(attrs, scales, spatial=(4, 5)):
    """Conv (so the Resize reads a channels-last tensor and may use TF's kernels) -> Resize, opset 19."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("Resize", ["c", "", "scales"], ["y"], **attrs)]
    inits = [numpy_helper.from_array(rng.standard_normal((3, 2, 1, 1)).astype(np.float32), "w"),
             numpy_helper.from_array(np.asarray(scales, np.float32), "scales")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, *spatial])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    return onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)]))


@pytest.mark.parametrize("attrs", [{"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
                                   {}])  # PyTorch's nearest; ONNX's defaults (half_pixel, round_prefer_floor)
def test_nearest_by_whole_factors_repeats_pixels_by_a_broadcast_multiply(tmp_path, attrs):
    """XNNPACK runs the MUL; TFLite's RESIZE_NEAREST_NEIGHBOR would run on the slower builtin kernel."""
    from tests.converters.onnx_tf.ops.node_check import tf_op_types, tflite_builtins

    model = _conv_resize({"mode": "nearest", **attrs}, [1, 1, 2, 3])
    want = run_reference(model, {"x": X}, runtime="onnxruntime")[0]
    np.testing.assert_allclose(run_tf(model, {"x": X})[0], want, rtol=1e-6, atol=1e-6)  # the conv rounds differently
    assert "ResizeNearestNeighbor" not in tf_op_types(model)
    ops = tflite_builtins(model, tmp_path)
    assert "RESIZE_NEAREST_NEIGHBOR" not in ops and ops.get("MUL") == 1, ops


def test_nearest_by_a_fractional_factor_keeps_the_resize_kernel(tmp_path):
    from tests.converters.onnx_tf.ops.node_check import tflite_builtins

    model = _conv_resize({"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
                         [1, 1, 1.5, 2])
    want = run_reference(model, {"x": X}, runtime="onnxruntime")[0]
    np.testing.assert_allclose(run_tf(model, {"x": X})[0], want, rtol=1e-6, atol=1e-6)  # the conv rounds differently
    assert tflite_builtins(model, tmp_path).get("RESIZE_NEAREST_NEIGHBOR") == 1


@pytest.mark.parametrize("attrs,repeats", [
    ({"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}, True),
    ({}, True),  # half_pixel, round_prefer_floor
    ({"coordinate_transformation_mode": "align_corners"}, False)])  # samples by the size: no repeat
def test_nearest_by_whole_factors_of_a_dynamic_height_and_width(tmp_path, attrs, repeats):
    """isbnx's YOLO26 exported with dynamic H and W: its 2x upsampling repeats pixels at any size, builtin in
    TFLite, where the sampled path computed its coordinates in float64 (Flex Floor, Mul, Range, ...)."""
    from bridge_converters.onnx_tf import build_program
    from tests.converters.onnx_tf.ops.node_check import tf_op_types, tflite_builtins

    model = _conv_resize({"mode": "nearest", **attrs}, [1, 1, 2, 3], spatial=("h", "w"))
    program = build_program(model, use_variables=False)
    for shape in ((1, 2, 4, 5), (1, 2, 7, 3)):
        x = rng.standard_normal(shape).astype(np.float32)
        want = run_reference(model, {"x": x}, runtime="onnxruntime")[0]
        np.testing.assert_allclose(program.function(x)[program.output_map["y"]].numpy(), want, rtol=1e-6, atol=1e-6)
    assert ("Range" not in tf_op_types(model)) == repeats
    if repeats:  # builtins only (tflite_builtins converts without Flex): the repeat's MUL and shape arithmetic
        assert "MUL" in tflite_builtins(model, tmp_path)
