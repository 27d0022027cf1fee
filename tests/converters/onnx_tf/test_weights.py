"""Weights stream from ONNX external data into their variables one tensor at a time; --xla compiles the
serving function with XLA."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import bridge
from bridge.model import Artifact
from bridge.onnx_io import load_onnx_checked
from bridge.runtimes.ort import OnnxRuntimeRunner
from bridge.runtimes.tf_savedmodel import TensorFlowRunner
from bridge_converters.onnx_tf import build_program, save_savedmodel
from bridge_converters.onnx_tf.weights import initializer_array, is_external


def _external_model(tmp_path):
    """Conv (channels-last weight layout) -> Reshape -> MatMul -> Add; every tensor of 64 bytes or more external
    (the bias too, which stays a constant; the Reshape shape stays inline, where ONNX shape inference reads it)."""
    rng = np.random.default_rng(0)
    conv_w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    dense = rng.standard_normal((8 * 6 * 6, 16)).astype(np.float32)
    bias = rng.standard_normal(16).astype(np.float32)  # 16 elements: stays a constant
    shape = np.array([1, -1], np.int64)
    nodes = [helper.make_node("Conv", ["x", "conv_w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Reshape", ["c", "shape"], ["flat"]),
             helper.make_node("MatMul", ["flat", "dense"], ["m"]), helper.make_node("Add", ["m", "bias"], ["y"])]
    inits = [numpy_helper.from_array(v, n) for v, n in ((conv_w, "conv_w"), (dense, "dense"), (bias, "bias"), (shape, "shape"))]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])], inits)
    path = tmp_path / "ext.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path),
              save_as_external_data=True, all_tensors_to_one_file=True, location="ext.onnx.data", size_threshold=64)
    return path, {"conv_w": conv_w, "dense": dense, "bias": bias, "shape": shape}


def test_initializer_array_reads_one_external_tensor(tmp_path):
    path, values = _external_model(tmp_path)
    model = onnx.load(str(path), load_external_data=False)
    assert [t.name for t in model.graph.initializer if is_external(t)] == ["conv_w", "dense", "bias"]
    for init in model.graph.initializer:
        np.testing.assert_array_equal(initializer_array(init, tmp_path), values[init.name])
        assert is_external(init) == (not init.raw_data)  # reading never fills the proto
    # bfloat16 is not a numpy dtype: it goes through onnx's own reader (upper 16 bits of each float32)
    raw = (np.arange(6, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16).tobytes()
    bf16 = helper.make_tensor("b", TensorProto.BFLOAT16, [2, 3], raw, raw=True)
    holder = helper.make_model(helper.make_graph([], "h", [], [], [bf16]))
    onnx.save(holder, str(tmp_path / "bf.onnx"), save_as_external_data=True, location="bf.data", size_threshold=0)
    (stored,) = onnx.load(str(tmp_path / "bf.onnx"), load_external_data=False).graph.initializer
    assert is_external(stored)
    np.testing.assert_array_equal(initializer_array(stored, tmp_path).astype(np.float32), np.arange(6).reshape(2, 3))


def test_big_weights_stream_into_variables_and_never_fill_the_model_proto(tmp_path):
    path, values = _external_model(tmp_path)
    model = load_onnx_checked(path, load_external_data=False)
    program = build_program(model, base_dir=path.parent)
    by_name = {t.name: t for t in model.graph.initializer}
    # the variables' tensors are still references into the data file: no raw bytes were ever put in the proto
    for name in ("conv_w", "dense"):
        assert is_external(by_name[name]) and not by_name[name].raw_data
    # the small constant was read into the proto for the graph walker
    assert not is_external(by_name["bias"]) and by_name["bias"].raw_data
    assert sorted(v.shape.as_list() for v in program.module.weights) == [[3, 3, 3, 8], [288, 16]]
    saved = tmp_path / "sm"
    save_savedmodel(program, saved)
    x = np.random.default_rng(1).standard_normal((1, 3, 6, 6)).astype(np.float32)
    got = TensorFlowRunner(Artifact(format="tf", path=saved)).run({"x": x})["y"]
    want = OnnxRuntimeRunner(Artifact(format="onnx", path=path)).run({"x": x})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="external data"):
        build_program(load_onnx_checked(path, load_external_data=False))  # no folder to stream from


def _tf_functions(saved):
    from bridge._frameworks import import_tensorflow

    import_tensorflow()
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((saved / "saved_model.pb").read_bytes())
    return proto.meta_graphs[0].graph_def.library.function


def test_xla_compiles_the_serving_function_and_keeps_parity(tmp_path):
    path, _ = _external_model(tmp_path)
    plain = bridge.convert(path, to="tf", out_dir=tmp_path / "plain")
    xla = bridge.convert(path, to="tf", out_dir=tmp_path / "xla", xla=True)
    assert plain.passed and xla.passed, xla.to_json()["parity"]
    (artifact,) = xla.artifacts
    assert artifact.meta["jit_compile"] is True and plain.artifacts[0].meta["jit_compile"] is False
    compiled = [f.signature.name for f in _tf_functions(artifact.path) if f.attr["_XlaMustCompile"].b]
    assert any("serve" in name for name in compiled), compiled
    assert not any(f.attr["_XlaMustCompile"].b for f in _tf_functions(plain.artifacts[0].path))
    assert max(o.max_abs for p in xla.parity for o in p.outputs) <= 1e-4
