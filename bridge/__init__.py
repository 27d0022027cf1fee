"""bridge: convert PyTorch models across frameworks and prove numeric parity at every hop.

>>> import bridge
>>> result = bridge.convert("fixtures/models/seed_mlp.py:SeedMLP", to=["onnx", "tf"], out_dir="out")
>>> result.passed
True
"""

from __future__ import annotations

import os

# TensorFlow's C++ start-up chatter drowns our output; users can still set their own level.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bridge._version import __version__  # noqa: E402
from bridge.api import ConversionResult, bench, convert, verify  # noqa: E402
from bridge.errors import BridgeError, ParityError, UnsupportedError, UsageError  # noqa: E402
from bridge.model import Artifact, InputSpec  # noqa: E402
from bridge.verify.compare import OutputParity, StageParity, Tolerances  # noqa: E402

__all__ = [
    "__version__",
    "convert",
    "verify",
    "bench",
    "ConversionResult",
    "Artifact",
    "InputSpec",
    "OutputParity",
    "StageParity",
    "Tolerances",
    "BridgeError",
    "UsageError",
    "ParityError",
    "UnsupportedError",
]
