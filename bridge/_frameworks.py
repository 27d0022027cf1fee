"""Quiet, lazy imports of the heavy frameworks.

TensorFlow prints C++ start-up lines straight to file descriptor 2 before any logging setting applies;
the first import runs with that descriptor pointed at /dev/null (errors still raise normally).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["import_tensorflow", "quiet_torch_onnx_logs", "silenced_stderr"]


@contextlib.contextmanager
def _silenced_fd2() -> Iterator[None]:
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (e.g. some embedded interpreters): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def silenced_stderr() -> contextlib.AbstractContextManager[None]:
    """File descriptor 2 pointed at /dev/null: for C++ libraries that log on start-up (LiteRT, TensorFlow)."""
    return _silenced_fd2()


def import_tensorflow() -> Any:
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _silenced_fd2():
        import tensorflow as tf
    tf.get_logger().setLevel(logging.ERROR)
    return tf


def quiet_torch_onnx_logs() -> None:
    """torch.onnx logs a warning per missing optional torchvision op on every export."""
    for name in ("torch.onnx", "torch.onnx._internal.exporter._registration", "torch._dynamo", "torch.export"):
        logging.getLogger(name).setLevel(logging.ERROR)
