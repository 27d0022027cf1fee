"""Layer handlers, one module per family; importing this package registers them all."""

from bridge_converters.caffe_onnx.layers import (  # noqa: F401
    activation,
    conv,
    detection,
    eltwise,
    norm,
    pool,
    resize,
    shape,
)
