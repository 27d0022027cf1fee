"""ONNX element types <-> TensorFlow dtypes."""

from __future__ import annotations

from typing import Any

__all__ = ["tf_dtype", "onnx_elem_type"]

_NAMES = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string",
    9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 14: "complex64",
    15: "complex128", 16: "bfloat16",
}


def tf_dtype(elem_type: int) -> Any:
    """The TensorFlow dtype for an ONNX ``TensorProto`` element type; UnsupportedError if TF has none."""
    import tensorflow as tf

    from bridge.errors import UnsupportedError

    name = _NAMES.get(int(elem_type))
    if name is None:
        import onnx

        label = onnx.TensorProto.DataType.Name(int(elem_type))
        raise UnsupportedError(f"ONNX element type {label} has no TensorFlow equivalent", {label: 1})
    return tf.as_dtype(name)


def onnx_elem_type(dtype: Any) -> int:
    import tensorflow as tf

    name = tf.as_dtype(dtype).name
    for code, known in _NAMES.items():
        if known == name:
            return code
    raise KeyError(name)
