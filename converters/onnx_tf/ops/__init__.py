"""Op handler families, one module each; importing this package registers every handler."""

from converters.onnx_tf.ops import (  # noqa: F401
    activation,
    conv,
    elementwise,
    linalg,
    norm,
    pool,
    shape,
    tensor,
)
