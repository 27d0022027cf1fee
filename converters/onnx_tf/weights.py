"""Initializer values, streamed: external data is read one tensor at a time, when its variable is made.

A model with gigabytes of weights in ONNX external data is loaded without them (``load_external_data=False``);
each big initializer is read from its file straight into a numpy buffer, copied into its ``tf.Variable``
and dropped, so conversion holds one full copy of the weights (TensorFlow's) plus one tensor in flight,
never a second copy in the ModelProto. Small external tensors that stay constants (shapes, scales) are
inlined into the proto, where the graph walker reads constants.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["is_external", "initializer_array", "inline_external", "external_entries"]


def is_external(tensor: Any) -> bool:
    import onnx

    return tensor.data_location == onnx.TensorProto.EXTERNAL


def external_entries(tensor: Any) -> dict[str, str]:
    return {e.key: e.value for e in tensor.external_data}


def _direct_dtype(data_type: int) -> Any:
    """The numpy dtype stored byte for byte in external data (None where ONNX packs or converts: bfloat16,
    float8, int4, strings); those go through onnx's own reader."""
    import numpy as np
    import onnx

    direct = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.DOUBLE: np.float64, onnx.TensorProto.FLOAT16: np.float16,
              onnx.TensorProto.INT8: np.int8, onnx.TensorProto.UINT8: np.uint8, onnx.TensorProto.INT16: np.int16,
              onnx.TensorProto.UINT16: np.uint16, onnx.TensorProto.INT32: np.int32, onnx.TensorProto.UINT32: np.uint32,
              onnx.TensorProto.INT64: np.int64, onnx.TensorProto.UINT64: np.uint64, onnx.TensorProto.BOOL: np.bool_}
    return direct.get(data_type)


def initializer_array(tensor: Any, base_dir: str | Path | None) -> Any:
    """The value of ``tensor`` as a numpy array; external data is read now from ``base_dir`` (already
    checked by ``bridge.external_data``: location, offset and length lie inside the model's folder)."""
    import math

    import numpy as np
    from onnx import numpy_helper

    if not is_external(tensor):
        return numpy_helper.to_array(tensor)
    if base_dir is None:
        raise ValueError(f"initializer '{tensor.name}' is in external data but the model's folder is unknown")
    entries = external_entries(tensor)
    dtype = _direct_dtype(tensor.data_type)
    if dtype is None or not np.little_endian:
        return _via_onnx(tensor, base_dir)
    count = math.prod(tensor.dims)
    with open(Path(base_dir) / entries["location"], "rb") as f:
        f.seek(int(entries.get("offset", 0)))
        value = np.fromfile(f, dtype=dtype, count=count)
    if value.size != count:
        raise ValueError(f"external data of '{tensor.name}' ends early ({value.size} of {count} values)")
    return value.reshape(tuple(tensor.dims))


def _via_onnx(tensor: Any, base_dir: str | Path) -> Any:
    import onnx
    from onnx import numpy_helper
    from onnx.external_data_helper import load_external_data_for_tensor

    copy = onnx.TensorProto()
    copy.CopyFrom(tensor)
    load_external_data_for_tensor(copy, str(base_dir))
    copy.data_location = onnx.TensorProto.DEFAULT
    del copy.external_data[:]
    return numpy_helper.to_array(copy)


def inline_external(tensors: Iterable[Any], base_dir: str | Path | None) -> None:
    """Read the external data of ``tensors`` into the protos themselves (for the few that stay constants)."""
    import onnx
    from onnx.external_data_helper import load_external_data_for_tensor

    for tensor in tensors:
        if is_external(tensor):
            if base_dir is None:
                raise ValueError(f"initializer '{tensor.name}' is in external data but the model's folder is unknown")
            load_external_data_for_tensor(tensor, str(base_dir))
            tensor.data_location = onnx.TensorProto.DEFAULT
            del tensor.external_data[:]
