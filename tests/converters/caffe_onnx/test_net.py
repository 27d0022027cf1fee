"""Reading Caffe files: the schema's field numbers, both layer forms, the three ways to declare inputs, the
TEST phase, weights that do not fit (exit 2, naming the layer), unsupported layers (exit 3, all listed)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from bridge.errors import UnsupportedError, UsageError
from bridge_converters.caffe_onnx import build_onnx, describe_net
from bridge_converters.caffe_onnx.net import read_net, read_weights
from bridge_converters.caffe_onnx.registry import LayerRegistry
from tests.converters.caffe_onnx.caffe_files import write_caffemodel, write_net

CONV = ('input: "data"\ninput_shape { dim: 1 dim: 3 dim: 6 dim: 6 }\n'
        'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" '
        'convolution_param { num_output: 4 kernel_size: 3 } }\n'
        'layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }\n')
W = np.arange(4 * 3 * 3 * 3, dtype=np.float32).reshape(4, 3, 3, 3) / 100
B = np.ones(4, np.float32)


def _varint(value: int) -> bytes:
    out = b""
    while True:
        byte, value = value & 0x7F, value >> 7
        out += bytes([byte | (0x80 if value else 0)])
        if not value:
            return out


def _field(number: int, payload: bytes) -> bytes:  # length-delimited
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def test_caffemodel_field_numbers_read_hand_encoded_bytes(tmp_path):
    # NetParameter.layer = 100, LayerParameter.name = 1, .blobs = 7, BlobProto.shape = 7 (BlobShape.dim = 1,
    # packed int64), BlobProto.data = 5 (packed float): bytes written by hand, not by our schema.
    shape = _field(1, _varint(2) + _varint(3))
    blob = _field(7, shape) + _field(5, struct.pack("<6f", *range(6)))
    layer = _field(1, b"ip") + _field(7, blob)
    path = tmp_path / "hand.caffemodel"
    path.write_bytes(_field(100, layer))
    (got,) = read_weights(path)["ip"]
    assert list(got.shape.dim) == [2, 3] and list(got.data) == [0, 1, 2, 3, 4, 5]


def test_v1_blobs_field_numbers(tmp_path):
    # NetParameter.layers = 2 (V1), V1LayerParameter.name = 4, .blobs = 6; legacy num/channels/height/width 1-4
    blob = b"\x08\x01\x10\x01\x18\x01\x20\x02" + _field(5, struct.pack("<2f", 1.5, -2))
    path = tmp_path / "v1.caffemodel"
    path.write_bytes(_field(2, _field(4, b"fc") + _field(6, blob)))
    (got,) = read_weights(path)["fc"]
    assert (got.num, got.channels, got.height, got.width) == (1, 1, 1, 2) and list(got.data) == [1.5, -2]


@pytest.mark.parametrize("head", [
    'input: "data"\ninput_dim: 2\ninput_dim: 3\ninput_dim: 5\ninput_dim: 4\n',
    'input: "data"\ninput_shape { dim: 2 dim: 3 dim: 5 dim: 4 }\n',
    'layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 5 dim: 4 } } }\n',
])
def test_three_ways_to_declare_inputs(tmp_path, head):
    text, _ = write_net(tmp_path, head + 'layer { name: "r" type: "ReLU" bottom: "data" top: "r" }\n')
    net = read_net(text)
    assert net.inputs == [("data", (2, 3, 5, 4))] and net.outputs == ["r"]


def test_test_phase_only(tmp_path):
    text, _ = write_net(tmp_path, 'input: "data"\ninput_shape { dim: 1 dim: 2 }\n'
                        'layer { name: "train" type: "Dropout" bottom: "data" top: "t" include { phase: TRAIN } }\n'
                        'layer { name: "test" type: "ReLU" bottom: "data" top: "r" include { phase: TEST } }\n'
                        'layer { name: "not_train" type: "Sigmoid" bottom: "r" top: "s" exclude { phase: TRAIN } }\n'
                        'layer { name: "staged" type: "TanH" bottom: "s" top: "u" include { stage: "deploy-only" } }\n')
    assert [layer.name for layer in read_net(text).layers] == ["test", "not_train"]


def test_in_place_blobs_name_onnx_tensors(tmp_path):
    text, weights = write_net(tmp_path, CONV, {"conv1": [W, B]})
    model = build_onnx(text, weights)
    assert [o.name for o in model.graph.output] == ["conv1"]
    conv, relu = model.graph.node
    assert (conv.name, list(conv.output)) == ("conv1", ["conv1/conv1"])  # the blob as conv1 left it
    assert (relu.name, list(relu.input), list(relu.output)) == ("relu1", ["conv1/conv1"], ["conv1"])
    assert {p.key: p.value for p in relu.metadata_props}["bridge.caffe_layer"] == "relu1"


def test_legacy_4d_blob_shapes_fit(tmp_path):
    text, _ = write_net(tmp_path, 'input: "data"\ninput_shape { dim: 2 dim: 6 }\n'
                        'layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" inner_product_param { num_output: 3 } }\n')
    w, b = np.ones((3, 6), np.float32), np.arange(3, dtype=np.float32)
    weights = write_caffemodel(tmp_path / "legacy.caffemodel", {"fc": [w, b]}, legacy_4d=True)
    init = {i.name: i for i in build_onnx(text, weights).graph.initializer}
    assert list(init["fc/weight"].dims) == [3, 6] and list(init["fc/bias"].dims) == [3]


@pytest.mark.parametrize("blobs,message", [
    ({"conv1": [W]}, "layer 'conv1' (Convolution) has 1 blob(s) in"),
    ({"conv1": [W[:, :2], B]}, "layer 'conv1' (Convolution) blob 0 has shape 4x2x3x3 in"),
    ({"other": [W, B]}, "layer 'conv1' (Convolution) is not in"),
])
def test_weights_that_do_not_fit_name_the_layer(tmp_path, blobs, message):
    text, weights = write_net(tmp_path, CONV, blobs)
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        build_onnx(text, weights)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)


def test_blob_count_checked_before_allocating(tmp_path):
    from bridge_converters.caffe_onnx.schema import messages

    net = messages().NetParameter()
    layer = net.layer.add(name="conv1")
    big = layer.blobs.add()
    big.shape.dim.extend([4, 3, 3, 3])
    big.data.extend([0.0] * 5)  # declares 108 values, holds 5
    layer.blobs.add().shape.dim.append(4)
    text, _ = write_net(tmp_path, CONV)
    path = tmp_path / "short.caffemodel"
    path.write_bytes(net.SerializeToString())
    with pytest.raises(UsageError, match="holds 5 values; its shape 4x3x3x3 needs 108"):
        build_onnx(text, path)


def test_not_a_caffemodel(tmp_path):
    text, _ = write_net(tmp_path, CONV)
    garbage = tmp_path / "garbage.caffemodel"
    garbage.write_bytes(b"\xff\xff\xff\xff not protobuf")
    with pytest.raises(UsageError, match="is not a Caffe .caffemodel"):
        build_onnx(text, garbage)
    with pytest.raises(UsageError, match="is a text prototxt, not a binary .caffemodel"):
        build_onnx(text, text)  # the prototxt given as weights
    empty = tmp_path / "empty.caffemodel"
    empty.write_bytes(b"")
    with pytest.raises(UsageError, match="holds no layers; is it a .caffemodel"):
        build_onnx(text, empty)


def test_learned_layers_need_weights(tmp_path):
    text, _ = write_net(tmp_path, CONV)
    with pytest.raises(UsageError, match="pass --weights model.caffemodel"):
        build_onnx(text, None)


@pytest.mark.parametrize("prototxt,message", [
    ('layer { name: "r" type: "ReLU" bottom: "data" top: "r" }\n', "declares no inputs"),
    ('input: "data"\ninput_dim: 1\ninput_dim: 3\nlayer { name: "a" type: "ReLU" bottom: "data" top: "a" }\n',
     "need 4 input_dim values"),
    ('input: "data"\ninput_shape { dim: 1 }\nlayer { name: "a" type: "ReLU" bottom: "data" top: "a" }\n'
     'layer { name: "a" type: "ReLU" bottom: "a" top: "b" }\n', "two layers are named 'a'"),
    ('input: "data"\ninput_shape { dim: 1 }\nlayer { name: "a" type: "ReLU" bottom: "nothing" top: "a" }\n',
     "reads blob 'nothing', which no earlier layer writes"),
    ('input: "data"\ninput_shape { dim: 1 dim: 0 }\nlayer { name: "a" type: "ReLU" bottom: "data" top: "a" }\n',
     "every dim must be positive"),
    ('layer { name: "a" type: "ReLU" bottom: "data" top: ', "is not a valid Caffe prototxt"),
])
def test_bad_prototxt(tmp_path, prototxt, message):
    text, _ = write_net(tmp_path, prototxt)
    with pytest.raises(UsageError, match=message):
        build_onnx(text, None)


def test_unsupported_layers_listed_at_once_with_counts(tmp_path):
    text, _ = write_net(tmp_path, 'input: "data"\ninput_shape { dim: 1 dim: 4 }\n'
                        'layer { name: "a" type: "Accuracy" bottom: "data" top: "a" }\n'
                        'layer { name: "b" type: "MysteryLayer" bottom: "data" top: "b" }\n'
                        'layer { name: "c" type: "MysteryLayer" bottom: "b" top: "c" }\n'
                        'layer { name: "d" type: "ReLU" bottom: "c" top: "d" }\n')
    with pytest.raises(UnsupportedError) as info:
        build_onnx(text, None)
    assert info.value.exit_code == 3 and info.value.unsupported == {"Accuracy": 1, "MysteryLayer": 2}
    assert "Accuracy x1, MysteryLayer x2" in str(info.value)
    assert describe_net(text)["unsupported"] == {"Accuracy": 1, "MysteryLayer": 2}


def test_describe_counts_parameters_without_weights(tmp_path):
    text, _ = write_net(tmp_path, CONV + 'layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc" '
                        'inner_product_param { num_output: 2 } }\n')
    info = describe_net(text)
    assert info["parameters"] == 4 * 3 * 3 * 3 + 4 + 2 * 4 * 4 * 4 + 2
    assert info["layers"] == {"Convolution": 1, "ReLU": 1, "InnerProduct": 1}
    assert info["outputs"] == [{"name": "fc", "shape": [1, 2]}]


def test_duplicate_layer_handler_raises():
    registry = LayerRegistry()
    registry.register("Foo")(lambda ctx: None)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("Foo")(lambda ctx: None)


def test_an_absurd_layer_size_is_refused_before_allocating(tmp_path):
    text, _ = write_net(tmp_path, 'input: "data"\ninput_shape { dim: 1 dim: 1000000 }\n'
                        'layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" '
                        'inner_product_param { num_output: 4000000000 } }\n')
    with pytest.raises(UsageError, match="layer 'fc' \\(InnerProduct\\) implies a blob of shape 4000000000x1000000"):
        describe_net(text)
