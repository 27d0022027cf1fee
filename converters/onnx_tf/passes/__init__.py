"""Graph passes over the ONNX model before conversion, each a module with a stated contract."""
