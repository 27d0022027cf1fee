"""Graph figures per artifact (op count, transposes, casts, Flex ops, XNNPACK coverage) from real files."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import bridge
from bridge.inspect import inspect_file
from bridge.inspect.figures import graph_figures, xnnpack_coverage
from bridge.report.html import render_html


@pytest.fixture(scope="module")
def tf():
    from bridge._frameworks import import_tensorflow

    return import_tensorflow()


def _tflite(tf, fn, path: Path, flex: bool) -> Path:
    holder = tf.Module()
    holder.fn = fn  # with a trackable object the file gets a serving_default signature
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], holder)
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS] + [tf.lite.OpsSet.SELECT_TF_OPS] * flex
    converter.target_spec.supported_ops = ops
    path.write_bytes(converter.convert())
    return path


@pytest.fixture(scope="module")
def tflite_files(tf, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tflite")
    w = tf.constant(np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([2, 3, 4], tf.float32)])
    def dense(x):
        return {"y": tf.nn.relu(tf.matmul(x, w))}

    @tf.function(input_signature=[tf.TensorSpec([2, 3, 4], tf.float32)])
    def mixed(x):
        y = tf.nn.relu(tf.transpose(x, [0, 2, 1]) * 2.0)
        # float64 division and floor have no TFLite builtin: they become Flex ops
        z = tf.cast(tf.math.floor(tf.cast(x, tf.float64) / 3.0), tf.float32)
        return {"y": tf.cast(tf.argmax(y, axis=-1), tf.float32), "z": z}

    return _tflite(tf, dense, tmp / "dense.tflite", False), _tflite(tf, mixed, tmp / "mixed.tflite", True)


def test_tflite_figures_count_transposes_casts_flex_and_xnnpack_coverage(tflite_files):
    dense, mixed = tflite_files
    clean = graph_figures(dense)
    assert clean.flex_ops == 0 and clean.transposes == 0 and clean.casts == 0
    assert clean.xnnpack_share == 1.0 and clean.xnnpack_nodes == clean.ops
    figures = graph_figures(mixed)
    assert figures.transposes == 1 and figures.casts == 3
    assert figures.flex == {"FlexFloor": 1, "FlexRealDiv": 1} and figures.flex_ops == 2
    # XNNPACK takes the float transpose/mul but not ARG_MAX, the casts or the Flex ops
    taken, total = xnnpack_coverage(mixed)
    assert total == figures.ops and 0 < taken < total - 3 and figures.xnnpack_share == taken / total
    data = figures.to_json()
    assert data["flex"] == {"FlexFloor": 1, "FlexRealDiv": 1} and data["xnnpack_nodes"] == taken
    text = inspect_file(mixed)
    assert (f"graph: {figures.ops} ops, 1 transposes, 3 casts, 2 Flex ops (FlexFloor x1, FlexRealDiv x1), "
            f"XNNPACK takes {taken / total:.0%} of nodes ({taken} of {total})") in text


def test_savedmodel_figures_come_from_the_graph_without_restoring_variables(tf, tmp_path):
    class Module(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(np.ones((4, 4), np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def serve(self, x):
            tf.transpose(tf.cast(x, tf.float64))  # a dead end: TF prunes it before the function runs
            return {"y": tf.cast(tf.transpose(tf.matmul(x, self.w)) > 0.0, tf.float32)}

    module = Module()
    path = tmp_path / "m_savedmodel"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    (path / "variables").rename(tmp_path / "elsewhere")  # the figures never read the weights
    figures = graph_figures(path, "tf")
    assert figures.transposes == 1 and figures.casts == 1 and figures.flex_ops is None  # the dead ones uncounted
    assert figures.ops >= 4  # MatMul, Transpose, Greater, Cast (+ variable reads and identities)


def test_onnx_figures_and_reports_carry_them(tflite_files, tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0]), helper.make_node("Cast", ["t"], ["c"], to=TensorProto.DOUBLE),
         helper.make_node("Cast", ["c"], ["y"], to=TensorProto.FLOAT)],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2])])
    path = tmp_path / "t.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert graph_figures(path).to_json() == {"ops": 3, "transposes": 1, "casts": 2}

    source = bridge.bench([path], runs=2, rounds=1, threads=[1]).to_json()["source"]
    assert source["format"] == "onnx" and source["graph"] == {"ops": 3, "transposes": 1, "casts": 2}
    report = bridge.bench([tflite_files[1]], runs=2, rounds=1, threads=[1]).to_json()
    (artifact,) = report["artifacts"]
    assert artifact["graph"]["flex"] == {"FlexFloor": 1, "FlexRealDiv": 1} and 0 < artifact["graph"]["xnnpack_share"] < 1
    assert "Flex delegate" in report["bench"][0]["error"]  # LiteRT's Python package cannot run Flex ops
    page = render_html(report)
    assert "XNNPACK share" in page and "FlexFloor ×1, FlexRealDiv ×1" in page
