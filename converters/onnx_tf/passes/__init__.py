"""Passes of the ONNX -> TF backend; each module states its contract in its docstring."""
