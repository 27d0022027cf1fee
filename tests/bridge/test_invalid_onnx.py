"""Damaged or semantically invalid ONNX: one line on stderr, exit 2, nothing written, never a crash or hang."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from bridge.errors import UsageError
from bridge.onnx_io import load_onnx_checked
from tests.conftest import run_bridge

X = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
Y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])


def _model(nodes, inputs=(X,), outputs=(Y,), inits=(), opset=17, opsets=None, ir_version=8):
    graph = helper.make_graph(list(nodes), "g", list(inputs), list(outputs), list(inits))
    imports = opsets if opsets is not None else [helper.make_opsetid("", opset)]
    return helper.make_model(graph, opset_imports=imports, ir_version=ir_version)


def _valid():
    w = numpy_helper.from_array(np.ones([3, 3], np.float32), "w")
    return _model([helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])], inits=[w])


def _bytes(model):
    return model.SerializeToString()


def _flip(data: bytes) -> bytes:
    # Break the first field's tag: the wire format becomes unreadable.
    return bytes([data[0] ^ 0xFF]) + data[1:]


def _conv_then_slice():
    # onnx 1.23's own shape inference aborts the process on this (std::clamp assertion after a
    # negative inferred dim); bridge must survive it and answer with exit 2.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 1])
    inits = [numpy_helper.from_array(np.ones([1, 1, 3], np.float32), "w"),
             numpy_helper.from_array(np.array([0], np.int64), "st"),
             numpy_helper.from_array(np.array([5], np.int64), "en"),
             numpy_helper.from_array(np.array([2], np.int64), "ax")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], auto_pad="VALID"),
             helper.make_node("Slice", ["c", "st", "en", "ax"], ["y"])]
    return _model(nodes, inputs=[x], outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, None])],
                  inits=inits)


def _pool_kernel_too_big():
    # TensorFlow's MaxPool kernel dies of SIGFPE on an empty output window: stop it at load.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 1])
    return _model([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2])], inputs=[x],
                  outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 0])])


def _non_utf8_name():
    data = _bytes(_model([helper.make_node("Relu", ["x"], ["y"], name="relu_node")]))
    return data.replace(b"relu_node", b"relu\xff\xfeode")


def _with_input_type(elem_type):
    model = _model([helper.make_node("Relu", ["x"], ["y"])])
    model.graph.input[0].type.tensor_type.elem_type = elem_type
    return model


INVALID = {
    "empty file": b"",
    "truncated": _bytes(_valid())[: len(_bytes(_valid())) // 2],
    "bit-flipped": _flip(_bytes(_valid())),
    "not protobuf": b"\x08\x07\x12\x04this is not a model" * 3,
    "non-UTF-8 node name": _non_utf8_name(),
    "opset 999": _model([helper.make_node("Relu", ["x"], ["y"])], opset=999),
    "opset 0": _model([helper.make_node("Relu", ["x"], ["y"])], opset=0),
    "no default-domain opset": _model([helper.make_node("Relu", ["x"], ["y"])], opsets=[]),
    "only a custom opset": _model([helper.make_node("Relu", ["x"], ["y"])],
                                  opsets=[helper.make_opsetid("com.example", 1)]),
    "dangling input": _model([helper.make_node("Add", ["x", "nothing_makes_this"], ["y"])]),
    "out of topological order": _model([helper.make_node("Relu", ["t"], ["y"]), helper.make_node("Relu", ["x"], ["t"])]),
    "cycle": _model([helper.make_node("Add", ["x", "b"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
                     helper.make_node("Relu", ["a"], ["y"])]),
    "Add of float and int64": _model([helper.make_node("Add", ["x", "i"], ["y"])],
                                     inputs=[X, helper.make_tensor_value_info("i", TensorProto.INT64, [2, 3])]),
    "undefined input elem type": _with_input_type(TensorProto.UNDEFINED),
    "unknown input elem type": _with_input_type(99),
    "output type disagrees": _model([helper.make_node("Relu", ["x"], ["y"])],
                                    outputs=[helper.make_tensor_value_info("y", TensorProto.INT64, [2, 3])]),
    "attribute out of range": _model([helper.make_node("Softmax", ["x"], ["y"], axis=7)]),
    "matmul shapes disagree": _model([helper.make_node("MatMul", ["x", "x"], ["y"])]),
    "output nothing produces": _model([helper.make_node("Relu", ["x"], ["y"])],
                                      outputs=[Y, helper.make_tensor_value_info("q", TensorProto.FLOAT, [2, 3])]),
    "duplicate node outputs": _model([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Abs", ["x"], ["y"])]),
    "duplicate graph outputs": _model([helper.make_node("Relu", ["x"], ["y"])], outputs=[Y, Y]),
    "empty graph": _model([], inputs=[], outputs=[]),
    "nodes but no outputs": _model([helper.make_node("Relu", ["x"], ["y"])], outputs=[]),
    "initializer too short": _model([helper.make_node("Add", ["x", "w"], ["y"])], inits=[
        TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2, 3], raw_data=b"\0" * 7)]),
    "unknown op in ai.onnx": _model([helper.make_node("NoSuchOp", ["x"], ["y"])]),
    "ONNX inference aborts": _conv_then_slice(),
    "pool kernel larger than input": _pool_kernel_too_big(),
    "initializer too long": _model([helper.make_node("Add", ["x", "w"], ["y"])], inits=[
        TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2, 3], raw_data=b"\0" * 48)]),
}


def _write(tmp_path: Path, case) -> Path:
    path = tmp_path / "model.onnx"
    path.write_bytes(case if isinstance(case, bytes) else _bytes(case))
    return path


@pytest.mark.parametrize("kind", list(INVALID))
def test_invalid_onnx_is_exit_2_with_one_line(tmp_path, kind):
    path = _write(tmp_path, INVALID[kind])
    out = tmp_path / "out"
    result = run_bridge("convert", str(path), "--to", "tf", "--out", str(out), timeout=120)
    assert result.returncode == 2, (kind, result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    assert not out.exists() or not any(out.iterdir())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bridge-")]


@pytest.mark.parametrize("kind", list(INVALID))
def test_load_onnx_checked_raises_usage_error(tmp_path, kind):
    with pytest.raises(UsageError):
        load_onnx_checked(_write(tmp_path, INVALID[kind]))


def test_valid_model_still_loads(tmp_path):
    model = load_onnx_checked(_write(tmp_path, _valid()))
    assert [o.name for o in model.graph.output] == ["y"]


def test_a_file_checked_before_is_not_checked_again_until_its_bytes_change(tmp_path, monkeypatch):
    import bridge.onnx_validate as validate

    forks = []
    real = validate.run_isolated
    monkeypatch.setattr(validate, "run_isolated", lambda *a: forks.append(1) or real(*a))
    path = _write(tmp_path, _valid())
    load_onnx_checked(path)
    load_onnx_checked(path)
    assert len(forks) == 1
    # rewritten at once to the same size: only the bytes tell it apart
    path.write_bytes(_bytes(_valid()).replace(b"Relu", b"Relx"))
    with pytest.raises(UsageError, match="Relx"):
        load_onnx_checked(path)
    assert len(forks) == 2


_VALID_BYTES = _bytes(_valid())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_damaged_bytes_load_or_fail_with_usage_error(tmp_path, data):
    """Truncated, bit-flipped, overwritten or spliced files: a model or a UsageError, nothing else."""
    buf = bytearray(_VALID_BYTES)
    for _ in range(data.draw(st.integers(1, 3))):
        if not buf:
            break
        pos = data.draw(st.integers(0, len(buf) - 1))
        op = data.draw(st.sampled_from(["truncate", "flip", "replace", "insert", "delete"]))
        if op == "truncate":
            del buf[pos:]
        elif op == "flip":
            buf[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "replace":
            chunk = data.draw(st.binary(min_size=1, max_size=8))
            buf[pos:pos + len(chunk)] = chunk
        elif op == "insert":
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del buf[pos:pos + data.draw(st.integers(1, 16))]
    path = tmp_path / "damaged.onnx"
    path.write_bytes(bytes(buf))
    try:
        model = load_onnx_checked(path)
    except UsageError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(model, onnx.ModelProto)


def test_a_handler_crash_becomes_one_unsupported_error_naming_the_node():
    """A handler raising anything but a BridgeError is exit 3 naming node and op, not an internal error."""
    import tensorflow as tf

    from bridge.errors import UnsupportedError
    from bridge_converters.onnx_tf.graph import GraphWalker
    from bridge_converters.onnx_tf.registry import OpRegistry

    ops = OpRegistry()

    @ops.register("Relu", since=1)
    def broken(ctx):
        raise IndexError("list index out of range")

    model = _model([helper.make_node("Relu", ["x"], ["y"], name="act")])
    walker = GraphWalker(model, ops=ops, fold_constants=False)
    with pytest.raises(UnsupportedError, match=r"node 'act' \(Relu\).*IndexError") as info:
        walker.run({"x": tf.zeros([2, 3])})
    assert info.value.unsupported == {"Relu": 1}
    assert info.value.exit_code == 3
