from bridge_converters.tf_tflite import serving_converter


def test_serving_converter_gives_from_saved_models_flatbuffer_byte_for_byte_without_loading_it_first(tmp_path):
    import numpy as np
    import tensorflow as tf

    class Dense(tf.Module):
        def __init__(self) -> None:
            self.w = tf.Variable(np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32)])
        def __call__(self, x):
            return {"y": tf.nn.relu(tf.matmul(x, self.w))}

    module = Dense()
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.__call__})
    public = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path), signature_keys=["serving_default"]).convert()
    converter = serving_converter(str(tmp_path))
    assert type(converter).__name__ == "TFLiteSavedModelConverterV2"
    assert bytes(converter.convert()) == bytes(public)
