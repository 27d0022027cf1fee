import numpy as np
import onnx
import onnx.parser
import pytest

from bridge_converters.onnx_tf import build_program
from tests.converters.onnx_tf.ops.node_check import run_reference, run_tf

rng = np.random.default_rng(0)


def _model(text: str) -> onnx.ModelProto:
    model = onnx.parser.parse_model(text)
    onnx.checker.check_model(model)
    return model


def _check(model: onnx.ModelProto, inputs: dict, runtime: str = "onnxruntime") -> None:
    got = run_tf(model, inputs)
    want = run_reference(model, inputs, runtime)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


IF_MODEL = """
<ir_version: 8, opset_import: ["" : 13]>
g (bool c, float[N] x) => (float[M] y, float[K] z) {
    two = Constant <value = float {2.0}> ()
    y, z = If (c) <
        then_branch = t () => (float[N] ty, float[N] tz) { ty = Mul (x, two) tz = Neg (x) },
        else_branch = e () => (float[P] ey, float[N] ez) { ey = Concat <axis = 0> (x, x) ez = Abs (x) }
    >
}
"""


@pytest.mark.parametrize("cond", [True, False])
def test_if_dynamic_condition_branch_shapes_differ(cond):
    x = rng.standard_normal(4).astype(np.float32)
    _check(_model(IF_MODEL), {"c": np.array(cond), "x": x})


def test_if_static_condition_converts_one_branch():
    model = _model(IF_MODEL.replace("(bool c, float[N] x)", "(float[N] x)").replace(
        "two = Constant", "c = Constant <value = bool {0}> ()\n    two = Constant"))
    _check(model, {"x": rng.standard_normal(3).astype(np.float32)})


LOOP_MODEL = """
<ir_version: 8, opset_import: ["" : 13]>
g (int64 m, bool c0, float[2] s0, float[1] acc0) => (float[2] s, float[A] acc, float[T, 2] scanned) {
    s, acc, scanned = Loop (m, c0, s0, acc0) <
        body = b (int64 i, bool c, float[2] si, float[B] ai) => (bool co, float[2] so, float[C] ao, float[2] sc) {
            fi = Cast <to = 1> (i)
            so = Add (si, fi)
            axes = Constant <value = int64[1] {0}> ()
            fu = Unsqueeze (fi, axes)
            ao = Concat <axis = 0> (ai, fu)
            limit = Constant <value = float {7.0}> ()
            total = ReduceSum <keepdims = 0> (so)
            co = Less (total, limit)
            sc = Identity (so)
        }
    >
}
"""


@pytest.mark.parametrize("trips, cond", [(5, True), (2, True), (5, False), (0, True)])
def test_loop_trip_count_condition_carried_and_scan_outputs(trips, cond):
    inputs = {"m": np.array(trips, np.int64), "c0": np.array(cond), "s0": np.array([0.5, 1.0], np.float32),
              "acc0": np.array([9.0], np.float32)}
    _check(_model(LOOP_MODEL), inputs)


def test_loop_without_trip_count_or_condition():
    no_cond = _model(LOOP_MODEL.replace("(m, c0, s0, acc0)", '(m, "", s0, acc0)')
                     .replace("bool c0, ", ""))
    _check(no_cond, {"m": np.array(3, np.int64), "s0": np.zeros(2, np.float32), "acc0": np.ones(1, np.float32)})
    no_trip = _model(LOOP_MODEL.replace("(m, c0, s0, acc0)", '("", c0, s0, acc0)').replace("int64 m, ", ""))
    _check(no_trip, {"c0": np.array(True), "s0": np.zeros(2, np.float32), "acc0": np.ones(1, np.float32)})


NESTED_MODEL = """
<ir_version: 8, opset_import: ["" : 13]>
g (float[3] x) => (float[3] y) {
    m = Constant <value = int64 {4}> ()
    y = Loop (m, "", x) <
        body = b (int64 i, bool c, float[3] xi) => (bool co, float[3] xo) {
            co = Identity (c)
            two = Constant <value = int64 {2}> ()
            r = Mod (i, two)
            zero = Constant <value = int64 {0}> ()
            even = Equal (r, zero)
            xo = If (even) <
                then_branch = t () => (float[3] a) { a = Add (xi, x) },
                else_branch = e () => (float[3] n) { n = Neg (xi) }
            >
        }
    >
}
"""


def test_nested_if_in_loop_sees_outer_scope():
    _check(_model(NESTED_MODEL), {"x": rng.standard_normal(3).astype(np.float32)})


def test_control_flow_with_exposed_intermediates():
    model = _model(NESTED_MODEL)
    program = build_program(model, use_variables=False, expose_intermediates=True)
    assert "y" in program.output_map


SCAN9_MODEL = """
<ir_version: 8, opset_import: ["" : 11]>
g (float[2] s0, float[3, 4, 2] x, float[4, 2] w) => (float[2] s, float[4, 2] prod, float[2, 4] sums) {
    s, prod, sums = Scan (s0, x, w) <
        num_scan_inputs = 2, scan_input_axes = [1, 0], scan_input_directions = [0, 1],
        scan_output_axes = [0, -1], scan_output_directions = [1, 0],
        body = b (float[2] si, float[3, 2] xi, float[2] wi) => (float[2] so, float[2] p, float[2] q) {
            r = ReduceSum <keepdims = 0, axes = [0]> (xi)
            so = Add (si, r)
            p = Mul (so, wi)
            q = Identity (so)
        }
    >
}
"""


def test_scan_axes_and_directions():
    inputs = {"s0": np.array([1.0, -1.0], np.float32), "x": rng.standard_normal((3, 4, 2)).astype(np.float32),
              "w": rng.standard_normal((4, 2)).astype(np.float32)}
    _check(_model(SCAN9_MODEL), inputs)


def test_scan_body_traced_twice_reuses_no_value_folded_in_its_first_trace():
    # ONNX's expanded LinearAttention: untyped body values, so a probe trace on the initial state finds the
    # output types. That state is a constant, so the probe folds the Transpose of it; the loop's trace must
    # not reuse that folded value for the state it carries.
    from onnx import TensorProto, ValueInfoProto, helper, numpy_helper

    def const(name, value):
        return numpy_helper.from_array(np.asarray(value), name)

    body = helper.make_graph(
        [helper.make_node("Transpose", ["si"], ["st"], perm=[1, 0]),
         helper.make_node("Unsqueeze", ["xi", "last"], ["xcol"]),
         helper.make_node("MatMul", ["st", "xcol"], ["zo"]),
         helper.make_node("Unsqueeze", ["yi", "first"], ["yrow"]),
         helper.make_node("MatMul", ["xcol", "yrow"], ["outer"]),
         helper.make_node("Add", ["si", "outer"], ["so"])],
        "b", [ValueInfoProto(name=n) for n in ("si", "xi", "yi")], [ValueInfoProto(name=n) for n in ("so", "zo")],
        [const("last", np.array([-1], np.int64)), const("first", np.array([0], np.int64))])
    start = const("s0", np.array([[0, 1], [2, 3]], np.float32))
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["s0"], value=start),
         helper.make_node("Scan", ["s0", "x", "y"], ["s", "z"], num_scan_inputs=2, body=body)], "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [4, 2]) for n in ("x", "y")],
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, [2, 2]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [4, 2, 1])])
    inputs = {name: rng.standard_normal((4, 2)).astype(np.float32) for name in ("x", "y")}
    _check(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), inputs, runtime="reference")


SCAN8_MODEL = """
<ir_version: 8, opset_import: ["" : 8]>
g (float[2, 2] s0, float[2, 3, 2] x) => (float[2, 2] s, float[2, 3, 2] z) {
    s, z = Scan ("", s0, x) <
        num_scan_inputs = 1, directions = [1],
        body = b (float[2] si, float[2] xi) => (float[2] so, float[2] zo) { so = Add (si, xi) zo = Mul (so, so) }
    >
}
"""


def test_scan_8_batched():
    inputs = {"s0": rng.standard_normal((2, 2)).astype(np.float32),
              "x": rng.standard_normal((2, 3, 2)).astype(np.float32)}
    _check(_model(SCAN8_MODEL), inputs)


# A sample-rate switch: the else branch expects another input length and cannot even be built at the one
# the conversion fixes (ONNX Runtime, which keeps N symbolic, fails only if that branch runs).
SWITCH_MODEL = """
<ir_version: 8, opset_import: ["" : 13]>
g (bool c, float[1, N] x) => (float[?, ?] y) {
    shape = Constant <value = int64[2] {4, -1}> ()
    y = If (c) <
        then_branch = t () => (float[?, ?] ty) { ty = Relu (x) },
        else_branch = e () => (float[?, ?] ey) { ey = Reshape (x, shape) }
    >
}
"""


def test_if_branch_that_cannot_run_at_these_shapes_becomes_nan_and_is_reported():
    import tensorflow as tf

    from bridge_converters.onnx_tf.passes.shapes import specialise_shapes

    model = _model(SWITCH_MODEL)
    x = rng.standard_normal((1, 6)).astype(np.float32)
    spec = specialise_shapes(_model(SWITCH_MODEL), {"c": np.array(True), "x": x})  # binds its own copy
    program = build_program(spec.model, use_variables=False, shapes=spec.value_shapes)
    out = program.output_map["y"]
    taken = program.function(tf.constant(True), tf.constant(x))[out].numpy()
    np.testing.assert_array_equal(taken, run_reference(model, {"c": np.array(True), "x": x}, "onnxruntime")[0])
    assert np.isnan(program.function(tf.constant(False), tf.constant(x))[out].numpy()).all()
    assert len(program.warnings) == 1 and "its else_branch cannot run at the input shapes" in program.warnings[0]
