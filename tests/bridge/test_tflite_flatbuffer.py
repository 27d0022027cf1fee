"""bridge's metadata entry in a TFLite flatbuffer, the op census, and telling a model's quantisation by its kernels."""

import numpy as np
import pytest

from bridge.tflite_flatbuffer import detect_quantization, float_compute_ops, op_census, read_metadata, with_metadata


pytestmark = pytest.mark.filterwarnings("ignore:Statistics for quantized inputs:UserWarning")


@pytest.fixture(scope="module")
def models():
    """A small conv + dense model as float, fp16, dynamic-range and full-int8 TFLite, by TF's own converter."""
    from bridge._frameworks import import_tensorflow

    tf = import_tensorflow()
    rng = np.random.default_rng(0)
    kernel = tf.constant(rng.standard_normal((3, 3, 2, 8)).astype(np.float32))
    dense = tf.constant(rng.standard_normal((8 * 8 * 8, 4)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 2], tf.float32)])
    def serve(x):
        y = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME"))
        return {"y": tf.matmul(tf.reshape(y, [1, -1]), dense)}

    def convert(**settings):
        converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()])
        for key, value in settings.items():
            if key == "types":
                converter.target_spec.supported_types = value
            else:
                setattr(converter, key, value)
        return converter.convert()

    data = lambda: ({"x": rng.standard_normal((1, 8, 8, 2)).astype(np.float32)} for _ in range(4))  # noqa: E731
    default = [tf.lite.Optimize.DEFAULT]
    return {"": convert(), "fp16": convert(optimizations=default, types=[tf.float16]),
            "dynamic": convert(optimizations=default), "int8": convert(optimizations=default, representative_dataset=lambda: ([d["x"]] for d in data()))}


def test_metadata_round_trip_replaces_an_earlier_entry_and_keeps_the_model_runnable(models):
    from ai_edge_litert.interpreter import Interpreter

    assert read_metadata(models[""]) == {}
    tagged = with_metadata(with_metadata(models["int8"], {"quantize": "old"}), {"quantize": "int8", "int8_io": False})
    assert read_metadata(tagged) == {"quantize": "int8", "int8_io": False}
    interpreter = Interpreter(model_content=tagged)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], np.float32))
    interpreter.invoke()


def test_census_tells_float_hybrid_and_integer_kernels_apart(models):
    assert float_compute_ops(models[""]) == {"CONV_2D": 1, "FULLY_CONNECTED": 1}
    assert float_compute_ops(models["int8"]) == {}
    assert ("CONV_2D", "INT8", "INT8") in {(r.op, r.input_type, r.weight_type) for r in op_census(models["int8"])}
    assert {name: detect_quantization(data) for name, data in models.items()} == {
        "": "", "fp16": "fp16", "dynamic": "dynamic", "int8": "int8"}
