"""Passes of the ONNX -> TF backend: ONNX-level passes on the ModelProto before the graph walk (shapes,
fuse) and the layout pass the walk itself applies; each module states its contract."""
