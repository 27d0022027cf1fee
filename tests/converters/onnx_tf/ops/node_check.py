"""One-node ONNX models run through our TF backend and through onnx's reference evaluator (or ORT)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper

from bridge_converters.onnx_tf import build_program

__all__ = ["make_node_model", "run_tf", "run_reference", "check_node", "tf_op_types", "tflite_builtins",
           "transpose_count"]


def _value_info(name: str, array: np.ndarray) -> Any:
    elem = helper.np_dtype_to_tensor_dtype(array.dtype)
    return helper.make_tensor_value_info(name, elem, list(array.shape))


def make_node_model(op_type: str, inputs: Mapping[str, np.ndarray], attrs: Mapping[str, Any] | None = None,
                    n_outputs: int = 1, opset: int = 21, domain: str = "",
                    initializers: Mapping[str, np.ndarray] | None = None,
                    input_names: Sequence[str] | None = None) -> onnx.ModelProto:
    """A model with one node. ``inputs`` become graph inputs, ``initializers`` constants; ``input_names``
    gives the node's input order (use "" for a skipped optional input)."""
    initializers = dict(initializers or {})
    names = list(input_names) if input_names is not None else [*inputs, *initializers]
    outputs = [f"out_{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, names, outputs, domain=domain, **dict(attrs or {}))
    graph = helper.make_graph(
        [node], f"{op_type}_test",
        [_value_info(n, a) for n, a in inputs.items()],
        [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in outputs],
        initializer=[onnx.numpy_helper.from_array(a, n) for n, a in initializers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(domain, opset)])
    model = onnx.shape_inference.infer_shapes(model)
    # Output types come from shape inference so the reference evaluator and ORT accept the model.
    inferred = {v.name: v for v in model.graph.value_info}
    for out in model.graph.output:
        if out.name in inferred:
            out.CopyFrom(inferred[out.name])
    return model


def run_tf(model: onnx.ModelProto, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    import tensorflow as tf

    program = build_program(model, use_variables=False)
    result = program.function(*[tf.constant(v) for v in inputs.values()])
    return [result[program.output_map[o.name]].numpy() for o in model.graph.output]


def tf_op_dtypes(model: onnx.ModelProto, op_type: str) -> set[str]:
    """The dtypes the converted graph's ``op_type`` ops (e.g. "Conv2D") compute in."""
    program = build_program(model, use_variables=False)
    return {op.outputs[0].dtype.name for op in program.function.graph.get_operations() if op.type == op_type}


def run_reference(model: onnx.ModelProto, inputs: Mapping[str, np.ndarray], runtime: str = "reference") -> list[np.ndarray]:
    if runtime == "onnxruntime":
        import onnxruntime as ort

        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(None, dict(inputs))
    from onnx.reference import ReferenceEvaluator

    return [np.asarray(v) for v in ReferenceEvaluator(model).run(None, dict(inputs))]


def check_node(op_type: str, inputs: Mapping[str, np.ndarray], attrs: Mapping[str, Any] | None = None, *,
               n_outputs: int = 1, opset: int = 21, rtol: float = 1e-5, atol: float = 1e-6,
               runtime: str = "reference", initializers: Mapping[str, np.ndarray] | None = None,
               input_names: Sequence[str] | None = None) -> list[np.ndarray]:
    """Build, run both ways, and assert every output matches (exactly for non-float outputs)."""
    model = make_node_model(op_type, inputs, attrs, n_outputs, opset, initializers=initializers,
                            input_names=input_names)
    got = run_tf(model, inputs)
    want = run_reference(model, inputs, runtime)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        w = np.asarray(w)
        assert g.shape == w.shape, f"output {i}: shape {g.shape} != {w.shape}"
        if w.dtype.kind in "fc":
            assert g.dtype == w.dtype, f"output {i}: dtype {g.dtype} != {w.dtype}"
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"output {i}")
        else:
            if w.dtype.kind in "OU" and g.dtype.kind in "OS":  # TF returns strings as bytes
                g = np.array([v.decode() if isinstance(v, bytes) else v for v in g.ravel()], dtype=object).reshape(g.shape)
            np.testing.assert_array_equal(g, w, err_msg=f"output {i}")
    return got


def tf_op_types(model: onnx.ModelProto) -> list[str]:
    """The op types of the converted serving function's graph, in order."""
    return [op.type for op in build_program(model, use_variables=False).function.graph.get_operations()]


def tflite_builtins(model: onnx.ModelProto, tmp_path: Any) -> dict[str, int]:
    """The op census of the model converted to a SavedModel and then, builtins only, to TFLite."""
    from collections import Counter

    from bridge.tflite_flatbuffer import op_census
    from bridge_converters.onnx_tf import save_savedmodel
    from bridge_converters.tf_tflite import _convert

    save_savedmodel(build_program(model), tmp_path / "sm")
    return dict(Counter(op.op for op in op_census(_convert(str(tmp_path / "sm"), allow_flex=False))))


def transpose_count(program: Any) -> int:
    """Transposes a converted program's TF graph runs: Transpose ops, the one-operand Einsums float32
    ones are written as, and the Unpack -> Pack pairs of small ones."""
    from bridge.inspect._tf import permutes, restacked

    graph_def = program.function.graph.as_graph_def()
    groups = [list(graph_def.node), *(list(f.node_def) for f in graph_def.library.function)]
    return sum(sum(n.op == "Transpose" or permutes(n) for n in ns) + len(restacked(ns)) for ns in groups)
