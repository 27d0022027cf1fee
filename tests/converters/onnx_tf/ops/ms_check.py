"""One-node models of ONNX Runtime's contrib ops (domain com.microsoft), run through our TF backend and ORT.

onnx's shape inference knows nothing of these ops, so the outputs are declared without a type and ORT,
which implements the ops, infers them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper

from tests.converters.onnx_tf.ops.node_check import run_reference, run_tf

__all__ = ["MS", "ms_model", "check_ms"]

MS = "com.microsoft"


def ms_model(op_type: str, inputs: Mapping[str, np.ndarray], attrs: Mapping[str, Any] | None = None,
             n_outputs: int = 1, initializers: Mapping[str, np.ndarray] | None = None,
             input_names: Sequence[str] | None = None, domain: str = MS, opset: int = 17,
             outputs: Sequence[str] | None = None) -> onnx.ModelProto:
    """``outputs`` names the node's outputs ("" skips one); by default ``n_outputs`` of them."""
    initializers = dict(initializers or {})
    names = list(input_names) if input_names is not None else [*inputs, *initializers]
    outs = list(outputs) if outputs is not None else [f"out_{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, names, outs, domain=domain, **dict(attrs or {}))
    graph = helper.make_graph(
        [node], f"{op_type}_test",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape))
         for n, a in inputs.items()],
        [helper.make_value_info(o, onnx.TypeProto()) for o in outs if o],
        initializer=[onnx.numpy_helper.from_array(a, n) for n, a in initializers.items()],
    )
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=imports)


def check_ms(op_type: str, inputs: Mapping[str, np.ndarray], attrs: Mapping[str, Any] | None = None, *,
             rtol: float = 1e-5, atol: float = 1e-5, expected: Sequence[np.ndarray] | None = None,
             **model_kw: Any) -> list[np.ndarray]:
    """Our backend against ORT (or against ``expected``, for ops ORT runs on CUDA only), output by output."""
    model = ms_model(op_type, inputs, attrs, **model_kw)
    got = run_tf(model, inputs)
    want = list(expected) if expected is not None else run_reference(model, inputs, "onnxruntime")
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        w = np.asarray(w)
        assert g.shape == w.shape, f"output {i}: shape {g.shape} != {w.shape}"
        assert g.dtype == w.dtype, f"output {i}: dtype {g.dtype} != {w.dtype}"
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"output {i}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"output {i}")
    return got
