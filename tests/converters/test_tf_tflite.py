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


def _small_rgb_cnn():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 1)).eval()


def test_a_small_image_model_takes_tf_forms_in_the_savedmodel_and_tflite_forms_in_every_tflite_file(tmp_path,
                                                                                                      monkeypatch):
    """The 3-channel input and output transposes are Unpack + Pack in the SavedModel (no pool wake-up in TF);
    every TFLite file is converted from a rebuild of the ONNX model with TRANSPOSE there (XNNPACK takes no
    PACK/UNPACK), and the float and fp16 files share one rebuild."""
    import numpy as np

    import bridge
    import bridge_converters.tf_tflite as edge
    from bridge.inspect.figures import graph_figures
    from bridge.tflite_flatbuffer import op_census

    rebuilds: list[tuple[str, ...]] = []
    rebuild = edge._rebuild

    def counted(model, out, options, passes):
        rebuilds.append(tuple(passes))
        return rebuild(model, out, options, passes)

    monkeypatch.setattr(edge, "_rebuild", counted)

    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    result = bridge.convert(_small_rgb_cnn(), to="tflite", out_dir=tmp_path, inputs=[x], quantize="fp16,int8",
                            calibration={"input": np.random.default_rng(1).standard_normal((4, 3, 8, 8)).astype(np.float32)})
    assert result.passed
    saved = next(a for a in result.artifacts if a.format == "tf")
    assert saved.meta["tf_only_forms"] == 2
    assert graph_figures(saved.path).transposes == 2  # the two Unpack + Pack pairs
    lites = [a for a in result.artifacts if a.format == "tflite"]
    assert sorted(a.variant for a in lites) == ["", "fp16", "int8"]
    for lite in lites:
        ops = {r.op for r in op_census(lite.path.read_bytes())}
        assert "TRANSPOSE" in ops and not ops & {"PACK", "UNPACK"}, (lite.variant, ops)
    assert len(rebuilds) == len(set(rebuilds)) and () in rebuilds, rebuilds  # once per set of passes
