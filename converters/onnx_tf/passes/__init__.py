"""ONNX-level passes that run on the ModelProto before the graph walk; each module states its contract."""
